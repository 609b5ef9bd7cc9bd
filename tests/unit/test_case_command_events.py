"""What a case command records on the case's stream: every field of every event, and the move.

tests/unit/test_command_classes.py tells the story; this pins the detail an
audit reads back: who sent each command and why, the assignment's fields,
which CCGs the case leaves and reaches, and the refusals word for word.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain.cases import HCAICase
from ledger.domain.commands import CaseMove, parse_command
from ledger.domain.errors import RuleViolation
from ledger.domain.record import CCGPremiumRecord

PIR = "qp-2013-14-pir"


def command(kind: str, ccg: str = "06P", **fields: Any) -> Any:
    return parse_command({"type": kind, "ccg": ccg, "scheme": PIR, "case_id": "C-1", **fields})


REPORT = {"organism": "mrsa", "specimen_date": "2013-11-05", "trust": "RC9"}


def assign(to: str, by: str = "PIR panel", pir: str = "PIR-42") -> Any:
    return command("hcai_case_assigned", assigned_to=to, assigned_by=by, pir_reference=pir)


def recorded(case: HCAICase) -> list[dict[str, Any]]:
    """The events the case has not saved yet, as their names and arguments."""
    out = []
    for event in case.collect_events():
        fields = {
            k: v
            for k, v in event.__dict__.items()
            if k not in {"originator_id", "originator_version", "timestamp", "originator_topic"}
        }
        out.append({"event": type(event).__name__, **fields})
    return out


def test_a_report_records_the_case_with_who_and_why() -> None:
    move = command("hcai_case_reported", **REPORT).apply_to_case(None, "ipc@06P", "first PIR")
    assert move == CaseMove(move.case)
    case = move.case
    assert (case.scheme, case.case_id, case.organism, case.specimen_date, case.trust) == (
        PIR,
        "C-1",
        "mrsa",
        "2013-11-05",
        "RC9",
    )
    assert case.ccg == "06P" and case.assigned_to is None and not case.withdrawn
    [reported] = recorded(case)
    assert reported == {
        "event": "CaseReported",
        "scheme": PIR,
        "case_id": "C-1",
        "organism": "mrsa",
        "specimen_date": "2013-11-05",
        "trust": "RC9",
        "ccg": "06P",
        "actor": "ipc@06P",
        "reason": "first PIR",
    }


def test_a_second_report_of_a_case_is_refused() -> None:
    report = command("hcai_case_reported", **REPORT)
    case = report.apply_to_case(None, "ipc", None).case
    with pytest.raises(RuleViolation) as caught:
        report.apply_to_case(case, "ipc", None)
    assert caught.value.field == "case_id"
    assert caught.value.message == (
        f"case_id: case 'C-1' was already reported in {PIR} (against 06P, specimen "
        "2013-11-05 at RC9); a case is reported once"
    )


def test_assignments_record_their_fields_and_say_where_the_case_moves() -> None:
    case = command("hcai_case_reported", **REPORT).apply_to_case(None, "ipc", None).case
    case.collect_events()
    move = assign("ccg:06P").apply_to_case(case, "panel@phe", "PIR outcome")
    assert move == CaseMove(case, None, "06P", "ccg:06P", "PIR panel", "PIR-42")
    assert (case.assigned_to, case.assigned_by, case.pir_reference) == (
        "ccg:06P",
        "PIR panel",
        "PIR-42",
    )
    move = assign("trust:RC9", "arbitration", "PIR-42-A").apply_to_case(case, "arb", "appeal")
    assert move == CaseMove(case, "06P", None, "trust:RC9", "arbitration", "PIR-42-A")
    assert recorded(case) == [
        {
            "event": "CaseAssigned",
            "assigned_to": "ccg:06P",
            "assigned_by": "PIR panel",
            "pir_reference": "PIR-42",
            "actor": "panel@phe",
            "reason": "PIR outcome",
        },
        {
            "event": "CaseAssigned",
            "assigned_to": "trust:RC9",
            "assigned_by": "arbitration",
            "pir_reference": "PIR-42-A",
            "actor": "arb",
            "reason": "appeal",
        },
    ]


def test_a_withdrawal_leaves_the_ccg_it_was_assigned_to() -> None:
    case = command("hcai_case_reported", **REPORT).apply_to_case(None, "ipc", None).case
    assign("ccg:00C").apply_to_case(case, "panel", None)
    case.collect_events()
    move = command("hcai_case_withdrawn").apply_to_case(case, "ipc@06P", "duplicate report")
    assert move == CaseMove(case, "00C", None, "withdrawn")
    assert case.withdrawn
    assert recorded(case) == [
        {"event": "CaseWithdrawn", "actor": "ipc@06P", "reason": "duplicate report"}
    ]


def test_a_case_never_reported_or_reported_elsewhere_is_refused_naming_the_field() -> None:
    withdraw = command("hcai_case_withdrawn")
    with pytest.raises(RuleViolation) as caught:
        withdraw.apply_to_case(None, "ipc", None)
    assert (caught.value.field, caught.value.message) == (
        "case_id",
        f"case_id: no case 'C-1' has been reported in {PIR}; send hcai_case_reported first",
    )
    case = command("hcai_case_reported", **REPORT).apply_to_case(None, "ipc", None).case
    with pytest.raises(RuleViolation) as caught:
        command("hcai_case_withdrawn", ccg="00C").apply_to_case(case, "ipc", None)
    assert (caught.value.field, caught.value.allowed) == ("ccg", ["06P"])
    assert caught.value.message == (
        "ccg: case 'C-1' was reported against 06P, not 00C; its commands name the CCG it "
        "was reported against"
    )


def test_a_case_command_names_itself_if_applied_to_a_record() -> None:
    record = CCGPremiumRecord(ccg="06P", scheme=PIR, actor="tester")
    with pytest.raises(AssertionError, match=r"^hcai_case_withdrawn$"):
        command("hcai_case_withdrawn").apply_to(record, "tester", None)


def test_a_flag_id_is_used_once_per_record() -> None:
    record = CCGPremiumRecord(ccg="06F", scheme="qp-2013-14", actor="tester")
    raw = {"type": "quality_failure_flagged", "ccg": "06F", "scheme": "qp-2013-14"}
    flag = parse_command({**raw, "flag_id": "cqc-1", "description": "CQC warning notice"})
    flag.apply_to(record, "tester", None)
    with pytest.raises(RuleViolation) as caught:
        flag.apply_to(record, "tester", None)
    assert (caught.value.field, caught.value.message) == (
        "flag_id",
        "flag_id: 'cqc-1' has already been used for 06F in qp-2013-14",
    )
