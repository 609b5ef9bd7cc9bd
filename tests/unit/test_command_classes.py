"""Each command type is one class: its type string, its parse, and how it changes the ledger.

test_commands.py pins what ``parse_command`` accepts and refuses; this pins the
classes behind it: one per contract type, frozen, and each record command
recording exactly the event the contract names for it, on an aggregate held
in memory (no store).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ledger.domain.cases import HCAICase
from ledger.domain.commands import (
    COMMAND_TYPES,
    COMMANDS,
    AssignCase,
    CaseCommand,
    Command,
    ReportCase,
    WithdrawCase,
    parse_command,
)
from ledger.domain.errors import RuleViolation
from ledger.domain.record import EVENT_TYPES, CCGPremiumRecord

from .test_commands import VALID, cmd

PIR = "qp-2013-14-pir"


def case_cmd(kind: str, ccg: str = "06F", **fields: Any) -> Any:
    """A parsed case command about case C-1 in the scheme that counts cases."""
    raw = {"type": kind, "ccg": ccg, "scheme": PIR, "case_id": "C-1", **fields}
    return parse_command(raw)


def reported(ccg: str = "06F") -> HCAICase:
    command = case_cmd(
        "hcai_case_reported", ccg, organism="mrsa", specimen_date="2013-05-01", trust="RWE"
    )
    assert isinstance(command, ReportCase)
    return command.apply_to_case(None, "phe", None).case


def test_one_frozen_class_per_contract_type() -> None:
    assert tuple(COMMANDS) == COMMAND_TYPES
    assert len(set(COMMANDS.values())) == len(COMMANDS)
    for kind, command in COMMANDS.items():
        assert command.type == kind
        assert issubclass(command, Command)
        assert dataclasses.is_dataclass(command)
        assert command.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_record_command_parses_to_its_class_and_records_its_event(kind: str) -> None:
    command = parse_command(cmd(kind))
    assert type(command) is COMMANDS[kind]
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.ccg = "00C"  # type: ignore[misc]
    record = CCGPremiumRecord(ccg="06F", scheme="qp-2013-14", actor="tester")
    if kind == "quality_failure_rescinded":
        parse_command(cmd("quality_failure_flagged")).apply_to(record, "tester", None)
    if kind in ("threshold_agreed", "measure_submitted"):
        assert command.fields["measure"] == "pyll"  # a national measure: no selection needed
    command.apply_to(record, "tester", "why")
    event = record.pending_events[-1]
    assert EVENT_TYPES[type(event).__name__] == kind
    assert (event.actor, event.reason) == ("tester", "why")  # type: ignore[attr-defined]
    for name, value in command.fields.items():
        assert getattr(event, name) == value


def test_a_record_command_checks_what_the_record_holds_before_recording() -> None:
    record = CCGPremiumRecord(ccg="06F", scheme="qp-2013-14", actor="tester")
    rescind = parse_command(cmd("quality_failure_rescinded"))
    with pytest.raises(RuleViolation, match="is not an active quality failure"):
        rescind.apply_to(record, "tester", None)
    threshold = parse_command(cmd("threshold_agreed", measure="local-1", criterion="x"))
    with pytest.raises(RuleViolation, match="has not been selected yet"):
        threshold.apply_to(record, "tester", None)
    assert [type(e).__name__ for e in record.pending_events] == ["Opened"]


def test_a_case_command_is_not_applied_to_one_record() -> None:
    record = CCGPremiumRecord(ccg="06F", scheme=PIR, actor="tester")
    with pytest.raises(AssertionError):
        case_cmd("hcai_case_withdrawn").apply_to(record, "tester", None)


def test_case_commands_tell_the_case_story_and_where_its_assignment_moves() -> None:
    report = case_cmd(
        "hcai_case_reported", organism="mrsa", specimen_date="2013-05-01", trust="RWE"
    )
    assert isinstance(report, ReportCase) and isinstance(report, CaseCommand)
    move = report.apply_to_case(None, "phe", None)
    case = move.case
    assert (case.case_id, case.ccg, case.organism, case.trust) == ("C-1", "06F", "mrsa", "RWE")
    assert (move.leaving, move.reaching) == (None, None)
    with pytest.raises(RuleViolation, match="was already reported"):
        report.apply_to_case(case, "phe", None)

    assign = case_cmd(
        "hcai_case_assigned", assigned_to="ccg:06F", assigned_by="PHE", pir_reference="PIR-1"
    )
    assert isinstance(assign, AssignCase)
    move = assign.apply_to_case(case, "phe", None)
    assert (move.leaving, move.reaching, move.now) == (None, "06F", "ccg:06F")
    moved = case_cmd(
        "hcai_case_assigned", assigned_to="trust:RWE", assigned_by="PHE", pir_reference="PIR-2"
    )
    move = moved.apply_to_case(case, "phe", None)
    assert (move.leaving, move.reaching, move.now) == ("06F", None, "trust:RWE")
    assert (move.assigned_by, move.pir_reference) == ("PHE", "PIR-2")

    withdraw = case_cmd("hcai_case_withdrawn")
    assert isinstance(withdraw, WithdrawCase)
    move = withdraw.apply_to_case(case, "phe", None)
    assert (move.leaving, move.reaching, move.now) == (None, None, "withdrawn")
    assert case.withdrawn
    with pytest.raises(RuleViolation, match="cannot be withdrawn again"):
        withdraw.apply_to_case(case, "phe", None)
    with pytest.raises(RuleViolation, match="cannot be assigned"):
        assign.apply_to_case(case, "phe", None)


def test_a_case_command_needs_the_case_reported_against_the_same_ccg() -> None:
    withdraw = case_cmd("hcai_case_withdrawn")
    with pytest.raises(RuleViolation, match="send hcai_case_reported first"):
        withdraw.apply_to_case(None, "phe", None)
    elsewhere = case_cmd("hcai_case_withdrawn", ccg="00C")
    with pytest.raises(RuleViolation, match="was reported against 06F, not 00C") as info:
        elsewhere.apply_to_case(reported(), "phe", None)
    assert info.value.field == "ccg"
