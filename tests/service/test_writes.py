"""Writes through the service on the in-memory store: execute, import lines, case commands."""

from __future__ import annotations

import json

import pytest

from ledger.domain.errors import IdempotencyKeyReused, InvalidCommand, RuleViolation
from ledger.domain.record import event_id, stream_id
from ledger.service.application import QPLedger

from .kit import CASES, SCHEME, SECOND, START_US, Clock, assign, cmd, flag, population, report


def test_the_first_command_opens_the_record(ledger: QPLedger, clock: Clock) -> None:
    receipt = ledger.execute(population(), actor="ccg:06F")
    assert (receipt.version, receipt.position) == (2, 2)
    assert receipt.event_id == event_id(stream_id("06F", SCHEME), 2)
    assert receipt.recorded_at == "2013-09-24T05:20:00.000001Z"  # one after the opening
    assert not receipt.replayed
    assert [e["type"] for e in ledger.history("06F", SCHEME)] == [
        "record_opened",
        "population_recorded",
    ]
    assert ledger.stream_version("06F", SCHEME) == 2


def test_recorded_time_increases_even_if_the_clock_stands_still(
    ledger: QPLedger, clock: Clock
) -> None:
    times = [ledger.execute(population(size=n)).recorded_at for n in range(1, 4)]
    assert times == sorted(set(times))
    clock.now = START_US - 60 * SECOND  # a clock that goes back
    later = ledger.execute(population(size=9)).recorded_at
    assert later > times[-1]


def test_a_refused_command_stores_nothing(ledger: QPLedger) -> None:
    ledger.execute(population())
    with pytest.raises(RuleViolation):
        ledger.execute(cmd("quality_failure_rescinded", flag_id="QF-9"))
    with pytest.raises(InvalidCommand):
        ledger.execute({**population(), "population": -1})
    assert ledger.max_position() == 2


def test_a_retry_with_the_same_key_returns_the_first_receipt(ledger: QPLedger) -> None:
    first = ledger.execute(flag(), idempotency_key="abc", actor="board")
    again = ledger.execute(flag(), idempotency_key="abc", actor="board")
    assert again.replayed and again.to_dict() == first.to_dict()
    assert ledger.max_position() == 2
    # The key is the actor's: another actor's same key is another request.
    other = ledger.execute(flag(flag_id="F2"), idempotency_key="abc", actor="at:1")
    assert not other.replayed and other.position == 3
    with pytest.raises(IdempotencyKeyReused) as caught:
        ledger.execute(flag(flag_id="F3"), idempotency_key="abc", actor="board")
    assert caught.value.field == "Idempotency-Key"
    with pytest.raises(InvalidCommand):
        ledger.execute(flag(), idempotency_key="", actor="board")


def test_import_lines_stores_the_valid_and_reports_the_rest(ledger: QPLedger) -> None:
    lines = [
        "\ufeff" + json.dumps(population()),
        "",
        "{not json",
        json.dumps(flag()),
        json.dumps(cmd("quality_failure_rescinded", flag_id="NOPE")),
        json.dumps(report("MRSA-1")),
        json.dumps(assign("MRSA-1", "ccg:06F")),
        json.dumps(flag(flag_id="F2")),
    ]
    report_ = ledger.import_lines(lines, actor="importer", batch_size=2)
    assert report_.summary() == {"stored": 5, "rejected": 2, "last_position": 8}
    assert [e["line"] for e in report_.errors] == [3, 5]
    assert report_.errors[1]["field"] == "flag_id"
    assert {e["actor"] for e in ledger.history("06F", SCHEME)} == {"importer"}


def test_import_lines_reads_bytes_and_rejects_a_line_that_is_not_utf8(ledger: QPLedger) -> None:
    lines = [b"\xef\xbb\xbf" + json.dumps(population()).encode(), b"\xff\xfe{}"]
    result = ledger.import_lines(lines)
    assert (result.stored, result.rejected) == (1, 1)
    assert result.errors[0]["line"] == 2


def test_a_case_moves_between_records_in_one_write(ledger: QPLedger) -> None:
    ledger.execute(report("MRSA-1"))
    ledger.execute(assign("MRSA-1", "ccg:06F"))
    moved = ledger.execute(assign("MRSA-1", "ccg:00C"))
    case = ledger.case_history("06P", CASES, "MRSA-1")
    assert case["assigned_to"] == "ccg:00C"
    assert [e["type"] for e in case["events"]] == [
        "hcai_case_reported",
        "hcai_case_assigned",
        "hcai_case_assigned",
    ]
    # The receipt names the case's event, saved after the two records' events.
    assert moved.event_id == case["events"][-1]["id"]
    left = ledger.history("06F", CASES)[-1]
    reached = ledger.history("00C", CASES)[-1]
    assert left["position"] < reached["position"] < moved.position
    with pytest.raises(InvalidCommand, match="If-Match"):
        ledger.execute(assign("MRSA-1", "ccg:06F"), expected_version=1)


def test_a_keyed_case_command_is_replayed_with_the_case_event(ledger: QPLedger) -> None:
    first = ledger.execute(report("MRSA-1"), idempotency_key="k")
    again = ledger.execute(report("MRSA-1"), idempotency_key="k")
    assert again.replayed and again.event_id == first.event_id
