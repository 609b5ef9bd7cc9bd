"""Parsing the HCAI case commands (docs/contract.md): each field, each refusal, word for word.

Case commands exist only in a scheme that counts cases (``qp-2013-14-pir``);
in any other they are refused naming the schemes that do. The rules that
depend on the stored case (reported once, never reassigned once withdrawn)
are the aggregate's: tests/unit/test_command_classes.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain.commands import AssignCase, ReportCase, WithdrawCase, parse_command
from ledger.domain.errors import InvalidCommand, LedgerError, RuleViolation, UnknownCCG

PIR = "qp-2013-14-pir"
VALID: dict[str, dict[str, Any]] = {
    "hcai_case_reported": {
        "case_id": "MRSA-2013.0042_a",
        "organism": "mrsa",
        "specimen_date": "2013-11-05",
        "trust": "RC9",
    },
    "hcai_case_assigned": {
        "case_id": "MRSA-2013.0042_a",
        "assigned_to": "ccg:06P",
        "assigned_by": "PIR panel",
        "pir_reference": "PIR-42",
    },
    "hcai_case_withdrawn": {"case_id": "MRSA-2013.0042_a"},
}


def cmd(kind: str, scheme: str = PIR, **changes: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": "06P", "scheme": scheme, **VALID[kind], **changes}


def refused(raw: dict[str, Any], error: type[LedgerError], field: str, message: str) -> LedgerError:
    with pytest.raises(error) as caught:
        parse_command(raw)
    assert type(caught.value) is error
    assert (caught.value.field, caught.value.message) == (field, message)
    return caught.value


def test_a_report_is_parsed_into_its_fields() -> None:
    command = parse_command(cmd("hcai_case_reported", reason="", actor="ipc@06P"))
    assert command == ReportCase(
        ccg="06P",
        scheme=PIR,
        reason="",
        actor="ipc@06P",
        case_id="MRSA-2013.0042_a",
        organism="mrsa",
        specimen_date="2013-11-05",
        trust="RC9",
    )
    assert command.fields == {
        "case_id": "MRSA-2013.0042_a",
        "organism": "mrsa",
        "specimen_date": "2013-11-05",
        "trust": "RC9",
    }


@pytest.mark.parametrize("assignee", ["ccg:06P", "ccg:00C", "trust:RWE", "third-party"])
def test_an_assignment_is_parsed_into_its_fields(assignee: str) -> None:
    command = parse_command(cmd("hcai_case_assigned", assigned_to=assignee))
    assert command == AssignCase(
        ccg="06P",
        scheme=PIR,
        case_id="MRSA-2013.0042_a",
        assigned_to=assignee,
        assigned_by="PIR panel",
        pir_reference="PIR-42",
    )


def test_a_withdrawal_names_only_the_case() -> None:
    command = parse_command(cmd("hcai_case_withdrawn"))
    assert command == WithdrawCase(ccg="06P", scheme=PIR, case_id="MRSA-2013.0042_a")
    assert command.fields == {"case_id": "MRSA-2013.0042_a"}


@pytest.mark.parametrize("kind", list(VALID))
def test_case_commands_are_refused_in_a_scheme_that_takes_case_counts(kind: str) -> None:
    error = refused(
        cmd(kind, scheme="qp-2013-14"),
        RuleViolation,
        "scheme",
        "scheme: qp-2013-14 takes submitted case counts; HCAI cases are recorded in a scheme "
        "that counts them (qp-2013-14-pir)",
    )
    assert error.allowed == ["qp-2013-14-pir"]


@pytest.mark.parametrize("case_id", ["A", "0", "a" * 64, "x.y_z-1"])
def test_a_case_id_of_1_to_64_letters_digits_and_dot_underscore_dash_is_accepted(
    case_id: str,
) -> None:
    assert parse_command(cmd("hcai_case_withdrawn", case_id=case_id)).fields == {"case_id": case_id}


@pytest.mark.parametrize(
    ("case_id", "shown"),
    [("a" * 65, '"' + "a" * 29 + "…"), ("-1", '"-1"'), ("a/b", '"a/b"'), ("a b", '"a b"')],
)
@pytest.mark.parametrize("kind", list(VALID))
def test_any_other_case_id_is_refused(kind: str, case_id: str, shown: str) -> None:
    refused(
        cmd(kind, case_id=case_id),
        InvalidCommand,
        "case_id",
        f"case_id: {shown} must be 1 to 64 letters, digits and . _ - "
        "(starting with a letter or digit)",
    )


def test_an_organism_the_scheme_does_not_count_is_refused() -> None:
    error = refused(
        cmd("hcai_case_reported", organism="cdiff"),
        InvalidCommand,
        "organism",
        'organism: "cdiff" is not counted by qp-2013-14-pir',
    )
    assert error.allowed == ["mrsa"]


@pytest.mark.parametrize("date", ["2013-02-30", "2013-5-01", "20131105", "2013-11-05T00:00", "x"])
def test_a_specimen_date_must_be_a_real_yyyy_mm_dd_date(date: str) -> None:
    refused(
        cmd("hcai_case_reported", specimen_date=date),
        InvalidCommand,
        "specimen_date",
        f'specimen_date: "{date}" is not a date (YYYY-MM-DD)',
    )


@pytest.mark.parametrize("trust", ["RWEX", "rwe", "XWE", "R1"])
def test_a_trust_must_be_an_ods_trust_code(trust: str) -> None:
    refused(
        cmd("hcai_case_reported", trust=trust),
        InvalidCommand,
        "trust",
        f"trust: {trust!r} is not an ODS trust code (R followed by two capital letters or "
        "digits, e.g. RWE)",
    )


@pytest.mark.parametrize(
    ("assignee", "error", "message"),
    [
        (
            "ccg:99Z",
            UnknownCCG,
            "assigned_to: '99Z' is not a CCG of April 2013, so a case cannot be assigned to it",
        ),
        (
            "trust:XYZ",
            InvalidCommand,
            "assigned_to: 'XYZ' is not an ODS trust code (R followed by two capital letters or "
            "digits, e.g. RWE)",
        ),
        (
            "06P",
            InvalidCommand,
            "assigned_to: '06P' must be ccg:<code>, trust:<ODS code> or third-party",
        ),
    ],
)
def test_an_assignee_must_be_a_ccg_a_trust_or_a_third_party(
    assignee: str, error: type[LedgerError], message: str
) -> None:
    refused(cmd("hcai_case_assigned", assigned_to=assignee), error, "assigned_to", message)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("hcai_case_reported", "organism"),
        ("hcai_case_reported", "specimen_date"),
        ("hcai_case_reported", "trust"),
        ("hcai_case_assigned", "assigned_to"),
        ("hcai_case_assigned", "assigned_by"),
        ("hcai_case_assigned", "pir_reference"),
        ("hcai_case_withdrawn", "case_id"),
    ],
)
def test_every_case_field_is_required(kind: str, name: str) -> None:
    raw = cmd(kind)
    del raw[name]
    refused(raw, InvalidCommand, name, f"{name}: required field is missing")
