"""``parse_command``: every shape docs/contract.md accepts, and every rule it rejects by.

Each rejection asserts the error class (what the API maps to a status code), the
``field`` attribute (the problem document's field) and that the human message
names the field too, because import reports show only the message.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.commands import Command, loads_line, parse_command
from ledger.domain.errors import (
    InvalidCommand,
    LedgerError,
    RuleViolation,
    UnknownCCG,
    UnknownMeasure,
    UnknownScheme,
)

D = Decimal
DELETE = object()

LOCAL_2013 = [
    {"slot": "local-1", "name": "Dementia diagnosis", "criterion": "diagnosis-rate",
     "direction": "higher"},
    {"slot": "local-2", "name": "Stroke care", "criterion": "af-anticoagulated",
     "direction": "higher"},
    {"slot": "local-3", "name": "Falls", "criterion": "falls-admissions", "direction": "lower"},
]  # fmt: skip

#: One valid command of each type, as a script would send it (docs/contract.md table).
VALID: dict[str, dict[str, Any]] = {
    "population_recorded": {"population": 449953, "source": "ONS mid-2012"},
    "local_measures_selected": {"measures": LOCAL_2013},
    "threshold_agreed": {
        "measure": "pyll",
        "criterion": "pyll-rate",
        "baseline": 2100,
        "target": D("2050.5"),
    },
    "measure_submitted": {
        "measure": "pyll",
        "criterion": "pyll-rate",
        "period": "2013-14",
        "value": D("2010.25"),
    },
    "constitution_standard_submitted": {
        "standard": "ae-4-hours",
        "period": "2013-14",
        "value": D("0.951"),
    },
    "quality_failure_flagged": {"flag_id": "cqc-2013-001", "description": "CQC warning notice"},
    "quality_failure_rescinded": {"flag_id": "cqc-2013-001"},
    "financial_position_declared": {"outturn": "balanced", "amount_pence": 0},
}

#: The further fields docs/contract.md lists for each type (written out, not read from the code).
REQUIRED_BY_CONTRACT = {
    "population_recorded": ["population", "source"],
    "local_measures_selected": ["measures"],
    "threshold_agreed": ["measure", "criterion", "baseline", "target"],
    "measure_submitted": ["measure", "criterion", "period", "value"],
    "constitution_standard_submitted": ["standard", "period", "value"],
    "quality_failure_flagged": ["flag_id", "description"],
    "quality_failure_rescinded": ["flag_id"],
    "financial_position_declared": ["outturn", "amount_pence"],
}


def cmd(kind: str, scheme: str = "qp-2013-14", /, **changes: Any) -> dict[str, Any]:
    """A valid command of ``kind`` with ``changes`` applied (``DELETE`` removes a field)."""
    raw: dict[str, Any] = {"type": kind, "ccg": "06F", "scheme": scheme}
    raw.update(copy.deepcopy(VALID[kind]))
    for key, value in changes.items():
        if value is DELETE:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def rejected(raw: Any, error: type[LedgerError], field: str | None) -> LedgerError:
    """Parse ``raw``, expecting ``error`` naming ``field`` both in .field and the message."""
    with pytest.raises(error) as info:
        parse_command(raw)
    exc = info.value
    assert type(exc) is error, f"{type(exc).__name__}: {exc.message}"
    if field is not None:
        assert exc.field == field, exc.message
        assert field in exc.message, exc.message
    return exc


# --------------------------------------------------------------------------- accepted shapes


@pytest.mark.parametrize("kind", list(VALID))
def test_every_command_type_is_accepted_in_its_contract_shape(kind: str) -> None:
    command = parse_command(cmd(kind, reason="year-end load", actor="finance@06F"))
    assert isinstance(command, Command)
    assert (command.type, command.ccg, command.scheme) == (kind, "06F", "qp-2013-14")
    assert command.reason == "year-end load"
    assert command.actor == "finance@06F"
    assert set(command.fields) == set(REQUIRED_BY_CONTRACT[kind])


def test_reason_and_actor_are_optional() -> None:
    command = parse_command(cmd("population_recorded"))
    assert command.reason is None and command.actor is None


def test_accepted_fields_are_typed() -> None:
    population = parse_command(cmd("population_recorded")).fields
    assert population == {"population": 449953, "source": "ONS mid-2012"}
    assert type(population["population"]) is int

    threshold = parse_command(cmd("threshold_agreed")).fields
    assert threshold == {
        "measure": "pyll",
        "criterion": "pyll-rate",
        "baseline": D(2100),
        "target": D("2050.5"),
    }
    assert all(isinstance(threshold[k], Decimal) for k in ("baseline", "target"))

    financial = parse_command(cmd("financial_position_declared", amount_pence=0)).fields
    assert financial == {"outturn": "balanced", "amount_pence": 0}
    overspend = parse_command(
        cmd("financial_position_declared", outturn="overspend", amount_pence=1_250_000)
    ).fields
    assert overspend == {"outturn": "overspend", "amount_pence": 1_250_000}

    local = parse_command(cmd("local_measures_selected")).fields["measures"]
    assert local == LOCAL_2013


def to_line(raw: dict[str, Any], **literals: str) -> str:
    """A JSON line for ``raw``, decimals written as JSON numbers; ``literals`` are spliced in."""

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"@@{value}@@"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    marked = {k: (f"@@{literals[k]}@@" if k in literals else mark(v)) for k, v in raw.items()}
    return re.sub(r'"@@(.*?)@@"', r"\1", json.dumps(marked))


def test_to_line_writes_decimals_as_numbers() -> None:
    line = to_line(cmd("threshold_agreed"), baseline="2100.0")
    assert '"target": 2050.5' in line and '"baseline": 2100.0' in line
    assert loads_line(line)["target"] == D("2050.5")


def test_numbers_stay_exact_decimals_through_loads_line() -> None:
    line = to_line(cmd("measure_submitted"), value="0.1")
    raw = loads_line(line)
    assert raw["value"] == D("0.1") and isinstance(raw["value"], Decimal)
    value = parse_command(raw).fields["value"]
    assert isinstance(value, Decimal)
    assert value == D("0.1")
    assert value != D(0.1)  # not the binary float 0.1000000000000000055...
    assert str(value) == "0.1"


def test_fifteen_significant_digits_are_kept_exactly() -> None:
    text = '{"type": "threshold_agreed", "ccg": "06F", "scheme": "qp-2013-14", "measure": "pyll",'
    text += ' "criterion": "pyll-rate", "baseline": 2100.12345678901, "target": 1e3}'
    fields = parse_command(loads_line(text)).fields
    assert fields["baseline"] == D("2100.12345678901")
    assert fields["target"] == D(1000)


def test_more_digits_than_any_reader_keeps_are_refused_not_rounded() -> None:
    text = '{"type": "threshold_agreed", "ccg": "06F", "scheme": "qp-2013-14", "measure": "pyll",'
    text += ' "criterion": "pyll-rate", "baseline": 2100.123456789012345678901, "target": 1e3}'
    with pytest.raises(InvalidCommand) as caught:
        parse_command(loads_line(text))
    assert caught.value.field == "baseline"


def test_integers_and_plain_json_floats_become_decimals() -> None:
    assert parse_command(cmd("measure_submitted", value=7)).fields["value"] == D(7)
    # json.loads without parse_float gives a float; the parser still keeps its decimal text
    raw = json.loads(json.dumps(cmd("measure_submitted", value=0.1)))
    assert parse_command(raw).fields["value"] == D("0.1")


@pytest.mark.parametrize("period", ["2013-14", "2013-14-Q1", "2013-14-Q4"])
def test_the_year_and_its_quarters_are_periods(period: str) -> None:
    assert parse_command(cmd("measure_submitted", period=period)).fields["period"] == period
    standard = parse_command(cmd("constitution_standard_submitted", period=period))
    assert standard.fields["period"] == period


@pytest.mark.parametrize("value", [0, 1, D("0.0"), D("1.00"), D("0.92")])
def test_constitution_values_at_the_ends_of_0_to_1_are_accepted(value: Any) -> None:
    fields = parse_command(cmd("constitution_standard_submitted", value=value)).fields
    assert fields["value"] == D(value)


def test_fixed_target_criteria_take_values() -> None:
    """Values are submitted for rollout and MRSA; only their *targets* are fixed."""
    for measure, criterion, value in [
        ("friends-and-family", "rollout", 1),
        ("hcai", "mrsa-cases", 0),
    ]:
        raw = cmd("measure_submitted", measure=measure, criterion=criterion, value=value)
        fields = parse_command(raw).fields
        assert [fields["measure"], fields["criterion"], fields["value"]] == [
            measure,
            criterion,
            value,
        ]


def test_local_slots_accept_the_criterion_named_at_selection() -> None:
    """Which criterion a slot has is ledger state, checked by the aggregate, not the parser."""
    threshold = parse_command(
        cmd("threshold_agreed", measure="local-2", criterion="af-anticoagulated")
    ).fields
    assert (threshold["measure"], threshold["criterion"]) == ("local-2", "af-anticoagulated")
    value = parse_command(
        cmd("measure_submitted", measure="local-2", criterion="af-anticoagulated")
    ).fields
    assert value["measure"] == "local-2"


def test_qp_2014_15_commands_use_that_scheme() -> None:
    local = [{"slot": "local-1", "name": "Dementia", "criterion": "dx-rate", "direction": "higher"}]
    selected = parse_command(cmd("local_measures_selected", "qp-2014-15", measures=local))
    assert selected.scheme == "qp-2014-15" and selected.fields["measures"] == local
    iapt = parse_command(
        cmd(
            "threshold_agreed",
            "qp-2014-15",
            measure="iapt-access",
            criterion="access-rate",
        )
    )
    assert iapt.fields["measure"] == "iapt-access"
    period = parse_command(cmd("measure_submitted", "qp-2014-15", period="2014-15-Q2"))
    assert period.fields["period"] == "2014-15-Q2"


# --------------------------------------------------------------------------- rejected: shape


@pytest.mark.parametrize("raw", [None, [], "population_recorded", 42, [cmd("population_recorded")]])
def test_a_command_must_be_an_object(raw: Any) -> None:
    rejected(raw, InvalidCommand, None)


@pytest.mark.parametrize(
    "kind", [DELETE, "population_changed", "Population_Recorded", "", 3, None, True, ["x"]]
)
def test_unknown_or_missing_type_is_rejected(kind: Any) -> None:
    raw = cmd("population_recorded", type=kind)
    exc = rejected(raw, InvalidCommand, "type")
    assert "population_recorded" in exc.allowed  # type: ignore[operator]


@pytest.mark.parametrize("kind", list(VALID))
def test_an_unknown_field_is_rejected(kind: str) -> None:
    rejected(cmd(kind, colour="blue"), InvalidCommand, "colour")


@pytest.mark.parametrize(
    ("kind", "borrowed"),
    [
        ("threshold_agreed", "population"),
        ("measure_submitted", "baseline"),
        ("population_recorded", "period"),
        ("quality_failure_rescinded", "description"),
        ("constitution_standard_submitted", "measure"),
        ("financial_position_declared", "value"),
    ],
)
def test_a_field_of_another_command_type_is_rejected(kind: str, borrowed: str) -> None:
    rejected(cmd(kind, **{borrowed: "x"}), InvalidCommand, borrowed)


MISSING = [
    pytest.param(kind, name, id=f"{kind}-{name}")
    for kind, names in REQUIRED_BY_CONTRACT.items()
    for name in ["ccg", "scheme", *names]
]


@pytest.mark.parametrize(("kind", "name"), MISSING)
def test_a_missing_required_field_is_rejected(kind: str, name: str) -> None:
    exc = rejected(cmd(kind, **{name: DELETE}), InvalidCommand, name)
    if name != "measures":
        assert "missing" in exc.message


@pytest.mark.parametrize(("kind", "name"), MISSING)
def test_a_null_required_field_is_rejected(kind: str, name: str) -> None:
    rejected(cmd(kind, **{name: None}), InvalidCommand, name)


NUMBER_FIELDS = [
    ("population_recorded", "population"),
    ("threshold_agreed", "baseline"),
    ("threshold_agreed", "target"),
    ("measure_submitted", "value"),
    ("constitution_standard_submitted", "value"),
    ("financial_position_declared", "amount_pence"),
]


@pytest.mark.parametrize(("kind", "name"), NUMBER_FIELDS)
@pytest.mark.parametrize("bad", [True, False, "1", "0.5", "", [1], {"value": 1}])
def test_a_number_field_refuses_booleans_strings_lists_and_objects(
    kind: str, name: str, bad: Any
) -> None:
    rejected(cmd(kind, **{name: bad}), InvalidCommand, name)


TEXT_FIELDS = [
    ("population_recorded", "source"),
    ("population_recorded", "ccg"),
    ("population_recorded", "scheme"),
    ("population_recorded", "reason"),
    ("population_recorded", "actor"),
    ("threshold_agreed", "measure"),
    ("threshold_agreed", "criterion"),
    ("measure_submitted", "period"),
    ("constitution_standard_submitted", "standard"),
    ("quality_failure_flagged", "flag_id"),
    ("quality_failure_flagged", "description"),
    ("quality_failure_rescinded", "flag_id"),
    ("financial_position_declared", "outturn"),
]


@pytest.mark.parametrize(("kind", "name"), TEXT_FIELDS)
@pytest.mark.parametrize("bad", [6, D("6.5"), True, ["06F"], {"code": "06F"}])
def test_a_text_field_refuses_other_types(kind: str, name: str, bad: Any) -> None:
    rejected(cmd(kind, **{name: bad}), InvalidCommand, name)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("population_recorded", "source"),
        ("quality_failure_flagged", "flag_id"),
        ("quality_failure_flagged", "description"),
        ("quality_failure_rescinded", "flag_id"),
    ],
)
@pytest.mark.parametrize("blank", ["", "   "])
def test_required_text_must_not_be_blank(kind: str, name: str, blank: str) -> None:
    rejected(cmd(kind, **{name: blank}), InvalidCommand, name)


def test_overlong_text_is_rejected() -> None:
    rejected(cmd("quality_failure_flagged", description="x" * 2001), InvalidCommand, "description")


# --------------------------------------------------------------------------- rejected: values


@pytest.mark.parametrize("population", [0, -1, -449953, D("1.5"), 1.5, D("449953.0"), D("1E+3")])
def test_population_must_be_a_positive_whole_number(population: Any) -> None:
    rejected(cmd("population_recorded", population=population), InvalidCommand, "population")


@pytest.mark.parametrize(("name", "value"), [("baseline", -1), ("target", D("-0.5"))])
def test_thresholds_are_not_negative(name: str, value: Any) -> None:
    rejected(cmd("threshold_agreed", **{name: value}), InvalidCommand, name)


@pytest.mark.parametrize("value", [-1, D("-0.001")])
def test_measure_values_are_not_negative(value: Any) -> None:
    rejected(cmd("measure_submitted", value=value), InvalidCommand, "value")


@pytest.mark.parametrize("value", [D("-0.01"), D("1.01"), 2, -1, 92])
def test_constitution_values_are_fractions(value: Any) -> None:
    exc = rejected(cmd("constitution_standard_submitted", value=value), InvalidCommand, "value")
    assert exc.allowed == "0..1"


@pytest.mark.parametrize("outturn", ["deficit", "Balanced", "OVERSPEND", "surplus"])
def test_outturn_is_balanced_or_overspend(outturn: str) -> None:
    exc = rejected(cmd("financial_position_declared", outturn=outturn), InvalidCommand, "outturn")
    assert exc.allowed == ["balanced", "overspend"]


@pytest.mark.parametrize("amount", [-1, D("0.5"), 1.5, D("100.0"), D("1E+2")])
def test_amount_pence_is_a_non_negative_integer(amount: Any) -> None:
    rejected(
        cmd("financial_position_declared", amount_pence=amount), InvalidCommand, "amount_pence"
    )


# ----------------------------------------------------------------------- rejected: unknown names


@pytest.mark.parametrize("ccg", ["ZZZ", "06f", "06F ", "E38000042", "06"])
def test_an_unknown_ccg_is_rejected(ccg: str) -> None:
    rejected(cmd("population_recorded", ccg=ccg), UnknownCCG, "ccg")


@pytest.mark.parametrize("scheme", ["qp-2099-00", "QP-2013-14", "qp-2013-2014"])
def test_an_unknown_scheme_is_rejected(scheme: str) -> None:
    exc = rejected(cmd("population_recorded", scheme=scheme), UnknownScheme, "scheme")
    assert "qp-2013-14" in exc.allowed  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["threshold_agreed", "measure_submitted"])
@pytest.mark.parametrize("measure", ["pyl", "iapt-access", "local-4", "ae-4-hours"])
def test_an_unknown_measure_is_rejected(kind: str, measure: str) -> None:
    """``iapt-access`` is a 2014/15 measure and ``ae-4-hours`` a standard, not 2013/14 measures."""
    rejected(cmd(kind, measure=measure), UnknownMeasure, "measure")


@pytest.mark.parametrize("kind", ["threshold_agreed", "measure_submitted"])
@pytest.mark.parametrize(
    ("measure", "criterion"),
    [("pyll", "pyll"), ("pyll", "mrsa-cases"), ("hcai", "mrsa"), ("friends-and-family", "score")],
)
def test_an_unknown_criterion_is_rejected(kind: str, measure: str, criterion: str) -> None:
    rejected(cmd(kind, measure=measure, criterion=criterion), UnknownMeasure, "criterion")


@pytest.mark.parametrize("standard", ["ae-4-hour", "pyll", "rtt-18-weeks ", "A&E"])
def test_an_unknown_standard_is_rejected(standard: str) -> None:
    rejected(cmd("constitution_standard_submitted", standard=standard), UnknownMeasure, "standard")


@pytest.mark.parametrize("kind", ["measure_submitted", "constitution_standard_submitted"])
@pytest.mark.parametrize("period", ["2014-15", "2013-14-Q5", "2013/14", "2013-14-q1", "2013"])
def test_a_period_not_in_the_scheme_is_rejected(kind: str, period: str) -> None:
    exc = rejected(cmd(kind, period=period), InvalidCommand, "period")
    assert "2013-14-Q1" in exc.allowed  # type: ignore[operator]


@pytest.mark.parametrize(
    ("measure", "criterion"), [("friends-and-family", "rollout"), ("hcai", "mrsa-cases")]
)
def test_a_fixed_target_cannot_be_agreed(measure: str, criterion: str) -> None:
    raw = cmd("threshold_agreed", measure=measure, criterion=criterion)
    rejected(raw, RuleViolation, "criterion")


# --------------------------------------------------------------------------- local measures


def _local(index: int | None = None, **changes: Any) -> list[dict[str, Any]]:
    measures = copy.deepcopy(LOCAL_2013)
    if index is not None:
        for key, value in changes.items():
            if value is DELETE:
                measures[index].pop(key)
            else:
                measures[index][key] = value
    return measures


@pytest.mark.parametrize(
    "measures",
    [[], LOCAL_2013[:2], [*LOCAL_2013, {**LOCAL_2013[0], "slot": "local-4"}]],
    ids=["none", "two", "four"],
)
def test_exactly_three_local_measures_are_selected(measures: list[Any]) -> None:
    exc = rejected(cmd("local_measures_selected", measures=measures), InvalidCommand, "measures")
    assert "3" in exc.message


@pytest.mark.parametrize("measures", [{"local-1": LOCAL_2013[0]}, "local-1", 3])
def test_local_measures_must_be_a_list(measures: Any) -> None:
    rejected(cmd("local_measures_selected", measures=measures), InvalidCommand, "measures")


def test_a_local_slot_is_selected_once() -> None:
    twice = [LOCAL_2013[0], LOCAL_2013[1], {**LOCAL_2013[2], "slot": "local-1"}]
    exc = rejected(cmd("local_measures_selected", measures=twice), InvalidCommand, "measures")
    assert "once" in exc.message


@pytest.mark.parametrize(
    ("index", "changes", "field"),
    [
        (2, {"slot": "local-4"}, "measures[2].slot"),
        (0, {"slot": "pyll"}, "measures[0].slot"),
        (1, {"direction": "up"}, "measures[1].direction"),
        (1, {"direction": "Lower"}, "measures[1].direction"),
        (0, {"criterion": "Diagnosis Rate"}, "measures[0].criterion"),
        (0, {"criterion": "-rate"}, "measures[0].criterion"),
        (0, {"name": DELETE}, "measures[0].name"),
        (1, {"slot": DELETE}, "measures[1].slot"),
        (2, {"criterion": DELETE}, "measures[2].criterion"),
        (2, {"direction": DELETE}, "measures[2].direction"),
        (0, {"name": 5}, "measures[0].name"),
        (0, {"target": 5}, "measures[0]"),
        (1, {"share": "0.125"}, "measures[1]"),
    ],
)
def test_each_local_selection_is_checked(index: int, changes: dict[str, Any], field: str) -> None:
    raw = cmd("local_measures_selected", measures=_local(index, **changes))
    rejected(raw, InvalidCommand, field)


@pytest.mark.parametrize("item", ["local-1", ["local-1"], None, 1])
def test_each_local_selection_is_an_object(item: Any) -> None:
    raw = cmd("local_measures_selected", measures=[item, LOCAL_2013[1], LOCAL_2013[2]])
    rejected(raw, InvalidCommand, "measures[0]")


def test_qp_2014_15_selects_exactly_one_local_measure() -> None:
    raw = cmd("local_measures_selected", "qp-2014-15", measures=LOCAL_2013)
    exc = rejected(raw, InvalidCommand, "measures")
    assert exc.allowed == ["local-1"]
    two_slot = cmd("local_measures_selected", "qp-2014-15", measures=[LOCAL_2013[1]])
    rejected(two_slot, InvalidCommand, "measures[0].slot")


# --------------------------------------------------------------------------- non-numbers


def _line_with(kind: str, name: str, literal: str) -> str:
    return to_line(cmd(kind), **{name: literal})


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(("kind", "name"), NUMBER_FIELDS)
def test_nan_and_infinity_are_rejected(kind: str, name: str, literal: str) -> None:
    with pytest.raises(InvalidCommand) as info:
        parse_command(loads_line(_line_with(kind, name, literal)))
    assert literal in info.value.message or "finite" in info.value.message


@pytest.mark.parametrize("literal", [D("NaN"), D("Infinity"), D("-Infinity"), D("sNaN")])
def test_non_finite_decimals_are_rejected_naming_the_field(literal: Decimal) -> None:
    """What a caller building the object in Python (not from JSON text) could send."""
    rejected(cmd("measure_submitted", value=literal), InvalidCommand, "value")
    rejected(cmd("threshold_agreed", target=literal), InvalidCommand, "target")


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_nan_via_loads_line_names_the_field(literal: str) -> None:
    with pytest.raises(InvalidCommand) as info:
        parse_command(loads_line(_line_with("measure_submitted", "value", literal)))
    assert info.value.field == "value"
    assert "value" in info.value.message


def test_loads_line_rejects_malformed_json_as_a_value_error() -> None:
    """The importer reports ``ValueError`` (``JSONDecodeError``) per line; keep it one."""
    with pytest.raises(ValueError):
        loads_line('{"type": "population_recorded",')
