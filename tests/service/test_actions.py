"""One method per user action: each records exactly what ``execute`` records for its command."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.errors import (
    ConcurrencyConflict,
    IdempotencyKeyReused,
    InvalidCommand,
    RuleViolation,
)
from ledger.service.application import QPLedger
from ledger.service.receipts import Receipt
from tests.ledgerkit import LOCAL_MEASURES

from .kit import CASES, SCHEME, YEAR, cmd, population

#: (method call, the same command as an import line), in an order the rules accept.
ACTIONS: list[tuple[Callable[[QPLedger], Receipt], dict[str, Any]]] = [
    (
        lambda ledger: ledger.record_population("06F", SCHEME, 449_953, "ONS"),
        population(),
    ),
    (
        lambda ledger: ledger.select_local_measures("06F", SCHEME, LOCAL_MEASURES),
        cmd("local_measures_selected", measures=LOCAL_MEASURES),
    ),
    (
        lambda ledger: ledger.agree_threshold("06F", SCHEME, "pyll", "pyll-rate", 2100, 2000),
        cmd("threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target=2000),
    ),
    (
        lambda ledger: ledger.submit_measure("06F", SCHEME, "pyll", "pyll-rate", YEAR, 1950),
        cmd("measure_submitted", measure="pyll", criterion="pyll-rate", period=YEAR, value=1950),
    ),
    (
        lambda ledger: ledger.submit_standard("06F", SCHEME, "ae-4-hours", YEAR, Decimal("0.96")),
        cmd(
            "constitution_standard_submitted",
            standard="ae-4-hours",
            period=YEAR,
            value=Decimal("0.96"),
        ),
    ),
    (
        lambda ledger: ledger.flag_quality_failure("06F", SCHEME, "QF-1", "CQC warning notice"),
        cmd("quality_failure_flagged", flag_id="QF-1", description="CQC warning notice"),
    ),
    (
        lambda ledger: ledger.rescind_quality_failure("06F", SCHEME, "QF-1"),
        cmd("quality_failure_rescinded", flag_id="QF-1"),
    ),
    (
        lambda ledger: ledger.declare_financial_position("06F", SCHEME, "balanced", 0),
        cmd("financial_position_declared", outturn="balanced", amount_pence=0),
    ),
    (
        lambda ledger: ledger.report_case("06P", CASES, "MRSA-1", "mrsa", "2013-10-02", "RC9"),
        cmd(
            "hcai_case_reported",
            "06P",
            CASES,
            case_id="MRSA-1",
            organism="mrsa",
            specimen_date="2013-10-02",
            trust="RC9",
        ),
    ),
    (
        lambda ledger: ledger.assign_case("06P", CASES, "MRSA-1", "ccg:06F", "PIR lead", "PIR-1"),
        cmd(
            "hcai_case_assigned",
            "06P",
            CASES,
            case_id="MRSA-1",
            assigned_to="ccg:06F",
            assigned_by="PIR lead",
            pir_reference="PIR-1",
        ),
    ),
    (
        lambda ledger: ledger.withdraw_case("06P", CASES, "MRSA-1"),
        cmd("hcai_case_withdrawn", "06P", CASES, case_id="MRSA-1"),
    ),
]


def stories(ledger: QPLedger) -> list[Any]:
    """Each stream's events as a reader sees them, without recorded times and ids."""
    out: list[Any] = []
    for ccg, scheme in [("06F", SCHEME), ("06P", SCHEME), ("06F", CASES), ("06P", CASES)]:
        for e in ledger.history(ccg, scheme):
            out.append((ccg, scheme, e["position"], e["type"], e["actor"], e["fields"]))
    case = ledger.load_case(CASES, "MRSA-1")
    if case is not None:
        events = ledger.case_history("06P", CASES, "MRSA-1")["events"]
        out += [(e["position"], e["type"], e["actor"], e["fields"]) for e in events]
    return out


def test_every_action_records_what_its_import_line_records() -> None:
    by_method, by_line = QPLedger("memory:"), QPLedger("memory:")
    try:
        for act, line in ACTIONS:
            receipt = act(by_method)
            twin = by_line.execute(line)
            assert (receipt.type, receipt.ccg, receipt.scheme) == (
                line["type"],
                line["ccg"],
                line["scheme"],
            )
            assert (receipt.position, receipt.version, receipt.event_id) == (
                twin.position,
                twin.version,
                twin.event_id,
            )
        assert stories(by_method) == stories(by_line)
        assert by_method.max_position() == by_line.max_position()
    finally:
        by_method.close()
        by_line.close()


def test_an_action_is_validated_as_its_command_is(ledger: QPLedger) -> None:
    with pytest.raises(InvalidCommand) as caught:
        ledger.record_population("06F", SCHEME, 0, "ONS")
    assert caught.value.field == "population"
    with pytest.raises(InvalidCommand) as caught:
        ledger.declare_financial_position("06F", SCHEME, "deficit", 5)
    assert caught.value.field == "outturn"
    with pytest.raises(RuleViolation):
        ledger.rescind_quality_failure("06F", SCHEME, "QF-9")
    assert ledger.max_position() == 0


def test_reason_and_actor_are_recorded(ledger: QPLedger) -> None:
    ledger.record_population("06F", SCHEME, 449_953, "ONS", reason="ONS mid-year", actor="at:1")
    event = ledger.history("06F", SCHEME)[-1]
    assert (event["actor"], event["reason"]) == ("at:1", "ONS mid-year")


def test_an_action_with_a_key_is_stored_once(ledger: QPLedger) -> None:
    first = ledger.flag_quality_failure("06F", SCHEME, "QF-1", "CQC", idempotency_key="k")
    again = ledger.flag_quality_failure("06F", SCHEME, "QF-1", "CQC", idempotency_key="k")
    assert again == Receipt(**{**first.__dict__, "replayed": True})
    assert ledger.max_position() == first.position
    with pytest.raises(IdempotencyKeyReused):
        ledger.flag_quality_failure("06F", SCHEME, "QF-2", "CQC", idempotency_key="k")


def test_an_action_can_be_conditional(ledger: QPLedger) -> None:
    ledger.record_population("06F", SCHEME, 449_953, "ONS", expected_version=0)
    with pytest.raises(ConcurrencyConflict) as caught:
        ledger.record_population("06F", SCHEME, 449_000, "ONS", expected_version=1)
    assert caught.value.field == "If-Match"
    assert ledger.record_population("06F", SCHEME, 1, "ONS", expected_version=2).version == 3
