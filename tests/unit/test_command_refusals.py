"""Refusals of the record commands, whole: message, field and the ``allowed`` list.

An API client shows ``allowed`` as the choices (the problem document's
``allowed`` member), so a refusal that loses it, or lists the wrong ones,
is a regression even when the message still reads well.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.commands import parse_command
from ledger.domain.errors import InvalidCommand, LedgerError, RuleViolation, UnknownMeasure

SLOTS = ["local-1", "local-2", "local-3"]
SELECTIONS = [
    {"slot": slot, "name": f"Local {n}", "criterion": f"c-{n}", "direction": "lower"}
    for n, slot in enumerate(SLOTS, start=1)
]


def select(measures: Any) -> dict[str, Any]:
    return {
        "type": "local_measures_selected",
        "ccg": "06F",
        "scheme": "qp-2013-14",
        "measures": measures,
    }


def refused(raw: dict[str, Any], error: type[LedgerError], field: str, message: str) -> Any:
    with pytest.raises(error) as caught:
        parse_command(raw)
    assert type(caught.value) is error
    assert (caught.value.field, caught.value.message) == (field, message)
    return caught.value.allowed


def changed(index: int, **fields: Any) -> list[dict[str, Any]]:
    measures = copy.deepcopy(SELECTIONS)
    measures[index].update(fields)
    return measures


def test_local_measures_must_be_a_list() -> None:
    allowed = refused(
        select({"local-1": SELECTIONS[0]}),
        InvalidCommand,
        "measures",
        "measures: must be a list of local measure selections",
    )
    assert allowed is None


def test_the_wrong_number_of_selections_lists_the_slots() -> None:
    allowed = refused(
        select(SELECTIONS[:2]),
        InvalidCommand,
        "measures",
        "measures: exactly 3 selections are required, got 2",
    )
    assert allowed == SLOTS


def test_unknown_fields_of_a_selection_are_all_named() -> None:
    refused(
        select(changed(1, weight=2, colour="red")),
        InvalidCommand,
        "measures[1]",
        "measures[1]: unknown field(s) colour, weight",
    )


def test_an_unknown_slot_lists_the_slots() -> None:
    allowed = refused(
        select(changed(2, slot="local-9")),
        InvalidCommand,
        "measures[2].slot",
        "measures[2].slot: 'local-9' is not a local measure slot",
    )
    assert allowed == SLOTS


def test_a_direction_must_be_lower_or_higher() -> None:
    allowed = refused(
        select(changed(0, direction="up")),
        InvalidCommand,
        "measures[0].direction",
        "measures[0].direction: 'up' is not lower or higher",
    )
    assert allowed == ["lower", "higher"]


def test_a_slot_selected_twice_lists_the_slots() -> None:
    allowed = refused(
        select(changed(2, slot="local-1")),
        InvalidCommand,
        "measures",
        "measures: each of local-1, local-2, local-3 must be selected once",
    )
    assert allowed == SLOTS


def test_an_unknown_standard_lists_the_standards() -> None:
    raw = {
        "type": "constitution_standard_submitted",
        "ccg": "06F",
        "scheme": "qp-2013-14",
        "standard": "ae-12-hours",
        "period": "2013-14",
        "value": Decimal("0.9"),
    }
    allowed = refused(
        raw, UnknownMeasure, "standard", "standard: unknown constitution standard 'ae-12-hours'"
    )
    assert allowed == ["rtt-18-weeks", "ae-4-hours", "cancer-2-week-wait", "ambulance-cat-a-8-min"]
    command = parse_command({**raw, "standard": "ae-4-hours"})
    assert command.fields == {
        "standard": "ae-4-hours",
        "period": "2013-14",
        "value": Decimal("0.9"),
    }


def test_a_count_made_from_cases_cannot_be_submitted() -> None:
    raw = {
        "type": "measure_submitted",
        "ccg": "06P",
        "scheme": "qp-2013-14-pir",
        "measure": "hcai",
        "criterion": "mrsa-cases",
        "period": "2013-14",
        "value": 0,
    }
    refused(
        raw,
        RuleViolation,
        "criterion",
        "criterion: hcai/mrsa-cases is counted from the mrsa cases assigned to the CCG in "
        "qp-2013-14-pir; it cannot be submitted (send hcai_case_reported and hcai_case_assigned)",
    )
    # Its other criterion is still submitted.
    command = parse_command({**raw, "criterion": "cdiff-cases", "value": 31})
    assert command.fields == {
        "measure": "hcai",
        "criterion": "cdiff-cases",
        "period": "2013-14",
        "value": Decimal(31),
    }
