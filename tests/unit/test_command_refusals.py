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


def test_an_unknown_measure_or_criterion_lists_the_known_ones() -> None:
    raw = {
        "type": "threshold_agreed",
        "ccg": "06F",
        "scheme": "qp-2013-14",
        "measure": "hcai",
        "criterion": "mrsa-rate",
        "baseline": 1,
        "target": 1,
    }
    allowed = refused(
        raw,
        UnknownMeasure,
        "criterion",
        "criterion: unknown criterion 'mrsa-rate' for measure hcai",
    )
    assert allowed == ["mrsa-cases", "cdiff-cases"]
    allowed = refused(
        {**raw, "measure": "dementia"},
        UnknownMeasure,
        "measure",
        "measure: unknown measure 'dementia' in qp-2013-14",
    )
    assert allowed == [
        "pyll",
        "avoidable-emergency-admissions",
        "friends-and-family",
        "hcai",
        "local-1",
        "local-2",
        "local-3",
    ]


@pytest.mark.parametrize(
    ("value", "kind"), [("12", "a string"), (None, "null"), ([1], "a list"), (True, "a boolean")]
)
def test_a_number_field_names_what_it_got(value: Any, kind: str) -> None:
    raw = {
        "type": "measure_submitted",
        "ccg": "06F",
        "scheme": "qp-2013-14",
        "measure": "pyll",
        "criterion": "pyll-rate",
        "period": "2013-14",
        "value": value,
    }
    message = (
        "value: required field is missing"
        if value is None
        else f"value: must be a number, got {kind}"
    )
    refused(raw, InvalidCommand, "value", message)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("x" * 38, '"' + "x" * 38 + '"'), ("x" * 39, '"' + "x" * 29 + "…")],
)
def test_a_wrong_value_is_quoted_whole_up_to_40_characters(text: str, shown: str) -> None:
    raw = {
        "type": "financial_position_declared",
        "ccg": "06F",
        "scheme": "qp-2013-14",
        "outturn": "balanced",
        "amount_pence": text,
    }
    refused(
        raw,
        InvalidCommand,
        "amount_pence",
        f"amount_pence: must be a whole number, got a string {shown}",
    )


def test_a_command_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidCommand) as caught:
        parse_command(["population_recorded"])
    assert caught.value.message == "a command must be a JSON object"


def test_unknown_fields_are_all_named_and_the_known_ones_listed() -> None:
    raw = {"type": "quality_failure_rescinded", "ccg": "06F", "scheme": "qp-2013-14"}
    allowed = refused(
        {**raw, "flag_id": "f", "colour": 1, "weight": 2},
        InvalidCommand,
        "colour",
        "unknown field(s) for quality_failure_rescinded: colour, weight",
    )
    assert allowed == ["actor", "ccg", "flag_id", "reason", "scheme", "type"]
