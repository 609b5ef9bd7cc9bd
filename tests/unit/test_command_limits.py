"""Every documented limit of a command, on both sides of its edge.

A limit tested only far from its edge can move by one (``<`` for ``<=``, 1
for 0) unnoticed, so each is tried exactly at the edge and one step past it:
targets and baselines of 0 and 0.5, a population of 1 and of 10^8, 10^15
pence, 2,000 characters of text (200 for a local measure's name), numbers of
13 integer digits, 15 significant digits and down to 10^-12, and an empty
``reason`` (allowed, unlike every other text field).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.commands import loads_line, parse_command
from ledger.domain.errors import InvalidCommand

D = Decimal

BASE: dict[str, dict[str, Any]] = {
    "population_recorded": {"population": 449953, "source": "ONS mid-2012"},
    "threshold_agreed": {
        "measure": "pyll",
        "criterion": "pyll-rate",
        "baseline": 2100,
        "target": 2050,
    },
    "measure_submitted": {
        "measure": "pyll",
        "criterion": "pyll-rate",
        "period": "2013-14",
        "value": 2010,
    },
    "constitution_standard_submitted": {
        "standard": "ae-4-hours",
        "period": "2013-14",
        "value": D("0.95"),
    },
    "quality_failure_flagged": {"flag_id": "cqc-1", "description": "CQC warning notice"},
    "financial_position_declared": {"outturn": "balanced", "amount_pence": 0},
    "local_measures_selected": {
        "measures": [
            {"slot": f"local-{n}", "name": "Local", "criterion": f"c-{n}", "direction": "lower"}
            for n in (1, 2, 3)
        ]
    },
}


def cmd(kind: str, **changes: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": "06F", "scheme": "qp-2013-14", **copy.deepcopy(BASE[kind])} | (
        changes
    )


def refused(raw: dict[str, Any], field: str, message: str) -> InvalidCommand:
    with pytest.raises(InvalidCommand) as caught:
        parse_command(raw)
    assert caught.value.field == field
    assert caught.value.message == message
    return caught.value


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize("name", ["baseline", "target"])
@pytest.mark.parametrize("value", [0, D("0"), D("0.5"), D("0.000000000001")])
def test_a_threshold_of_zero_or_a_fraction_is_accepted(name: str, value: Any) -> None:
    assert parse_command(cmd("threshold_agreed", **{name: value})).fields[name] == value


@pytest.mark.parametrize("name", ["baseline", "target"])
def test_a_negative_threshold_is_refused_with_the_range(name: str) -> None:
    refused(cmd("threshold_agreed", **{name: D("-0.5")}), name, f"{name}: -0.5 is outside 0..inf")


@pytest.mark.parametrize("value", [0, D("0.5"), D("9999999999999")])
def test_a_measure_value_from_zero_up_is_accepted(value: Any) -> None:
    assert parse_command(cmd("measure_submitted", value=value)).fields["value"] == value


def test_a_negative_measure_value_is_refused_with_the_range() -> None:
    refused(cmd("measure_submitted", value=-1), "value", "value: -1 is outside 0..inf")


@pytest.mark.parametrize("value", [0, D("0.5"), 1, D("1.000")])
def test_a_constitution_value_from_0_to_1_is_accepted(value: Any) -> None:
    fields = parse_command(cmd("constitution_standard_submitted", value=value)).fields
    assert fields["value"] == value


@pytest.mark.parametrize(("value", "shown"), [(D("1.0001"), "1.0001"), (D("-0.1"), "-0.1")])
def test_a_constitution_value_outside_0_to_1_is_refused_with_the_range(
    value: Decimal, shown: str
) -> None:
    with pytest.raises(InvalidCommand) as caught:
        parse_command(cmd("constitution_standard_submitted", value=value))
    assert caught.value.field == "value"
    assert caught.value.message == f"value: {shown} is outside 0..1"
    assert caught.value.allowed == "0..1"


@pytest.mark.parametrize("population", [1, 2, 100_000_000])
def test_a_population_from_1_to_10_to_the_8_is_accepted(population: int) -> None:
    assert parse_command(cmd("population_recorded", population=population)).fields == {
        "population": population,
        "source": "ONS mid-2012",
    }


@pytest.mark.parametrize("population", [0, 100_000_001])
def test_a_population_outside_1_to_10_to_the_8_is_refused(population: int) -> None:
    raw = cmd("population_recorded", population=population)
    message = f"population: must be between 1 and 100000000, got {population}"
    assert refused(raw, "population", message).allowed == "1..100000000"


@pytest.mark.parametrize("amount", [0, 1, 10**15])
def test_amount_pence_from_0_to_10_to_the_15_is_accepted(amount: int) -> None:
    fields = parse_command(cmd("financial_position_declared", amount_pence=amount)).fields
    assert fields == {"outturn": "balanced", "amount_pence": amount}


@pytest.mark.parametrize("amount", [-1, 10**15 + 1])
def test_amount_pence_outside_0_to_10_to_the_15_is_refused(amount: int) -> None:
    raw = cmd("financial_position_declared", amount_pence=amount)
    message = f"amount_pence: must be between 0 and 1000000000000000, got {amount}"
    assert refused(raw, "amount_pence", message).allowed == "0..1000000000000000"


@pytest.mark.parametrize(("amount", "kind"), [(D("1.5"), "a number 1.5"), ("12", 'a string "12"')])
def test_amount_pence_must_be_a_whole_number(amount: Any, kind: str) -> None:
    refused(
        cmd("financial_position_declared", amount_pence=amount),
        "amount_pence",
        f"amount_pence: must be a whole number, got {kind}",
    )


# --------------------------------------------------------------------------- digits


@pytest.mark.parametrize(
    "literal",
    [
        "9999999999999",  # 13 integer digits: below 10^13
        "9999999999999.00",
        "123456789012.345",  # 15 significant digits
        "0.000000000001",  # 10^-12
        "0.00000000000100",
        "1E-12",
        "0",
        "0E-20",  # zero however written
        "1.000000000000000000",  # trailing zeros are not significant
    ],
)
def test_numbers_at_the_digit_limits_are_kept_exactly(literal: str) -> None:
    raw = loads_line(f'{{"type":"measure_submitted","ccg":"06F","scheme":"qp-2013-14",'
                     f'"measure":"pyll","criterion":"pyll-rate","period":"2013-14",'
                     f'"value":{literal}}}')  # fmt: skip
    value = parse_command(raw).fields["value"]
    assert value == D(literal) and str(value) == str(D(literal))


@pytest.mark.parametrize(
    ("literal", "problem"),
    [
        ("10000000000000", "is too large: the ledger keeps numbers below 10^13"),
        ("1E+13", "is too large: the ledger keeps numbers below 10^13"),
        (
            "0.0000000000001",
            "is too small: the ledger keeps 0 or numbers of at least 10^-12, "
            "so that every figure shows exactly as it was sent",
        ),
        (
            "1234567890123.456",
            "has 16 significant digits: the ledger keeps at most 15 and never rounds what it "
            "was sent",
        ),
        (
            "0.1234567890123456",
            "has 16 significant digits: the ledger keeps at most 15 and never rounds what it "
            "was sent",
        ),
    ],
)
def test_numbers_past_the_digit_limits_are_refused_saying_which(literal: str, problem: str) -> None:
    refused(cmd("measure_submitted", value=D(literal)), "value", f"value: {D(literal)} {problem}")


def test_a_long_refused_number_is_abbreviated() -> None:
    literal = "1" * 50
    refused(
        cmd("measure_submitted", value=D(literal)),
        "value",
        f"value: {'1' * 20}…(50 characters) is too large: the ledger keeps numbers below 10^13",
    )


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("population_recorded", "source"),
        ("quality_failure_flagged", "description"),
        ("population_recorded", "reason"),
        ("population_recorded", "actor"),
    ],
)
def test_text_of_2000_characters_is_accepted_and_2001_refused(kind: str, name: str) -> None:
    command = parse_command(cmd(kind, **{name: "x" * 2000}))
    assert (command.fields | {"reason": command.reason, "actor": command.actor})[name] == (
        "x" * 2000
    )
    refused(cmd(kind, **{name: "x" * 2001}), name, f"{name}: longer than 2000 characters")


def test_a_local_measure_name_of_200_characters_is_accepted_and_201_refused() -> None:
    measures = copy.deepcopy(BASE["local_measures_selected"]["measures"])
    measures[1]["name"] = "n" * 200
    fields = parse_command(cmd("local_measures_selected", measures=measures)).fields
    assert fields["measures"][1]["name"] == "n" * 200
    measures[1]["name"] = "n" * 201
    refused(
        cmd("local_measures_selected", measures=measures),
        "measures[1].name",
        "measures[1].name: longer than 200 characters",
    )


@pytest.mark.parametrize("reason", ["", " "])
def test_an_empty_reason_is_kept_as_given(reason: str) -> None:
    assert parse_command(cmd("population_recorded", reason=reason)).reason == reason


@pytest.mark.parametrize("name", ["actor", "source"])
@pytest.mark.parametrize("blank", ["", " \t"])
def test_every_other_text_field_must_not_be_blank(name: str, blank: str) -> None:
    refused(cmd("population_recorded", **{name: blank}), name, f"{name}: must not be empty")


def test_a_missing_or_null_reason_and_actor_are_none() -> None:
    command = parse_command(cmd("population_recorded", reason=None, actor=None))
    assert (command.reason, command.actor) == (None, None)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "a boolean"), (3, "a number"), ([], "a list"), ({}, "an object")],
)
def test_a_text_field_names_the_type_it_got(value: Any, kind: str) -> None:
    refused(
        cmd("population_recorded", source=value), "source", f"source: must be a string, got {kind}"
    )


@pytest.mark.parametrize(
    ("digits", "shown"),
    [
        (40, "1" + "0" * 39),  # 40 characters: shown whole
        (41, "1" + "0" * 19 + "…(41 characters)"),
    ],
)
def test_a_refused_number_is_shown_whole_up_to_40_characters(digits: int, shown: str) -> None:
    refused(
        cmd("measure_submitted", value=D("1" + "0" * (digits - 1))),
        "value",
        f"value: {shown} is too large: the ledger keeps numbers below 10^13",
    )
