"""Hostile import lines: each is one clear refusal, never a crash (no I/O here).

docs/contract.md: a line that is not UTF-8, not one JSON object, nested too
deeply, holds a duplicate key or a lone surrogate is one rejected line. The
reader (ledger/domain/jsontext.py) and the command parser (ledger/domain/commands/) are
checked here; that the other lines of the same import are stored is checked
on both databases in tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.commands import MAX_DIGITS, loads_line, parse_command
from ledger.domain.errors import InvalidCommand, LedgerError, MalformedJSON
from ledger.domain.jsontext import MAX_DEPTH, loads_strict
from ledger.engine.decide import number

BASE = '{"type": "population_recorded", "ccg": "06F", "scheme": "qp-2013-14", '


def refusal(line: str | bytes) -> InvalidCommand:
    with pytest.raises(InvalidCommand) as caught:
        parse_command(loads_line(line))
    return caught.value


def threshold(baseline: str) -> str:
    return (
        '{"type": "threshold_agreed", "ccg": "06F", "scheme": "qp-2013-14", "measure": "pyll", '
        f'"criterion": "pyll-rate", "baseline": {baseline}, "target": 1}}'
    )


def test_a_duplicate_key_is_refused_naming_the_key() -> None:
    error = refusal(BASE + '"population": 452475, "source": "ONS", "population": 1}')
    assert isinstance(error, MalformedJSON) and error.code == "invalid-json"
    assert error.message == (
        "duplicate key 'population': each field may appear only once in a command"
    )
    assert error.field == "population"


def test_a_duplicate_key_inside_a_local_measure_is_refused() -> None:
    line = (
        '{"type": "local_measures_selected", "ccg": "06F", "scheme": "qp-2013-14", '
        '"measures": [{"slot": "local-1", "slot": "local-2"}]}'
    )
    assert refusal(line).message.startswith("duplicate key 'slot'")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            BASE + '"population": 1, "source": "\\udc80"}',
            "source: holds a lone surrogate (\\udc80), which is not a Unicode character; "
            "send text as valid UTF-8",
        ),
        (
            BASE + '"population": 1, "source": "ONS", "reason": "ok \\ud800 then"}',
            "reason: holds a lone surrogate (\\ud800)",
        ),
        (
            BASE + '"population": 1, "source": "ONS", "\\udfff": 1}',
            "a field name holds a lone surrogate (\\udfff)",
        ),
        (
            '{"type": "local_measures_selected", "ccg": "06F", "scheme": "qp-2013-14", '
            '"measures": [{"slot": "local-1", "name": "x\\udc80"}]}',
            "measures[0].name: holds a lone surrogate (\\udc80)",
        ),
        (
            BASE + '"population": 1, "source": "a\\u0000b"}',
            "source: holds the NUL character (\\u0000), which the ledger cannot store",
        ),
    ],
)
def test_text_that_is_not_unicode_or_holds_nul_is_refused_naming_where(
    line: str, message: str
) -> None:
    error = refusal(line)
    assert error.code == "invalid-json"
    assert error.message.startswith(message)
    # the message itself is printable UTF-8 (it goes to a terminal, a log, a problem body)
    error.message.encode("utf-8")


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    command = parse_command(loads_line(BASE + '"population": 1, "source": "ONS \\ud83d\\ude00"}'))
    assert command.fields["source"] == "ONS \U0001f600"


def test_text_given_as_objects_is_checked_too() -> None:
    """A Python caller (execute, remedies) skips the JSON reader; the field check still holds."""
    raw = {"type": "population_recorded", "ccg": "06F", "scheme": "qp-2013-14"}
    with pytest.raises(InvalidCommand) as caught:
        parse_command({**raw, "population": 1, "source": "bad \udc80"})
    assert caught.value.field == "source"
    assert "lone surrogate" in caught.value.message


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 3000, 100_000])
@pytest.mark.parametrize("opener", ["[", '{"a": '])
def test_deep_nesting_is_refused_not_a_recursion_error(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    error = refusal(opener * depth + "1" + closer * depth)
    assert error.code == "invalid-json"
    assert error.message == (
        f"JSON nested {depth} levels deep; the ledger reads at most {MAX_DEPTH} (a command needs 3)"
    )


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    source = '[{\\"' * 50
    command = parse_command(loads_line(BASE + f'"population": 1, "source": "{source}"}}'))
    assert command.fields["source"] == '[{"' * 50


def test_nesting_up_to_the_limit_is_read() -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_strict(deepest) is not None


def test_bytes_that_are_not_utf8_are_refused_naming_the_column() -> None:
    line = (BASE + '"population": 1, "source": "').encode() + b'\xff"}'
    error = refusal(line)
    assert error.code == "invalid-json"
    column = len(line) - 2
    assert error.message == f"not UTF-8 text: byte 0xff at column {column} (invalid start byte)"


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (
            "1" + "0" * 5000,
            "population: a number 5001 characters long (100000000000…); "
            "the ledger keeps at most 15 significant digits",
        ),
        ("1e999999999999999999999", "population: 1e999999999999999999999 is beyond the range"),
    ],
)
def test_numbers_no_figure_could_need_are_refused_naming_the_field(
    literal: str, message: str
) -> None:
    error = refusal(BASE + f'"population": {literal}, "source": "ONS"}}')
    assert error.field == "population"
    assert error.message.startswith(message)


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (
            "1e-400",
            "baseline: 1E-400 is too small: the ledger keeps 0 or numbers of at least 10^-12, "
            "so that every figure shows exactly as it was sent",
        ),
        ("1e-13", "baseline: 1E-13 is too small"),
        ("0.0000000000009", "baseline: 9E-13 is too small"),
        ("1e-9999999", "baseline: 1E-9999999 is too small"),
        ("1e13", "baseline: 1E+13 is too large: the ledger keeps numbers below 10^13"),
        ("1E+99999999999", "baseline: 1E+99999999999 is too large"),
        (
            "1.0000000000000001",
            "baseline: 1.0000000000000001 has 17 significant digits: the ledger keeps at most "
            "15 and never rounds what it was sent",
        ),
        ("NaN", "baseline: must be a finite number"),
        ("-Infinity", "baseline: must be a finite number"),
    ],
)
def test_numbers_outside_the_documented_limits_are_refused(literal: str, message: str) -> None:
    error = refusal(threshold(literal))
    assert error.code == "invalid-command" and error.field == "baseline"
    assert error.message.startswith(message)


@pytest.mark.parametrize(
    "literal", ["0", "0.0", "0E-400", "1e-12", "9.99999999999999e12", "2818.60000"]
)
def test_numbers_at_the_limits_are_kept_exactly(literal: str) -> None:
    value = parse_command(loads_line(threshold(literal))).fields["baseline"]
    assert value == Decimal(literal)
    assert Decimal(repr(number(value))) == value


@pytest.mark.parametrize(
    "text",
    ["", "{", "[1, 2]", '"just text"', "{} {}", '{"a": 1}x', "\ufeff{}", "nul\x00"],
)
def test_anything_that_is_not_one_command_object_is_one_invalid_command(text: str) -> None:
    assert refusal(text).message


# ----------------------------------------------------------------- properties

#: Every Decimal the command parser accepts for a value (at most 15 significant
#: digits, 0 or between 10^-12 and 10^13).
accepted_numbers = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(min_value=0, max_value=10**MAX_DIGITS - 1),
    st.integers(min_value=-40, max_value=12),
).filter(lambda d: d == 0 or (-12 <= d.adjusted() <= 12))


@given(accepted_numbers)
def test_every_accepted_number_shows_exactly_as_stored(value: Decimal) -> None:
    """The engine renders decimals as JSON numbers (floats); none may change on the way."""
    line = threshold(str(value))
    stored = parse_command(loads_line(line)).fields["baseline"]
    assert stored == value
    shown = number(stored)
    assert Decimal(repr(shown)) == stored
    assert Decimal(json.loads(json.dumps(shown), parse_float=Decimal)) == stored


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_no_input_makes_the_reader_raise_anything_but_a_refusal(data: bytes | str) -> None:
    try:
        parse_command(loads_line(data))
    except LedgerError as e:
        e.message.encode("utf-8")  # printable, whatever the input held


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300)
@given(
    st.sampled_from(["type", "ccg", "scheme", "population", "source", "reason", "actor", "x"]),
    json_values,
)
def test_no_json_value_in_any_field_makes_the_parser_raise_anything_but_a_refusal(
    field: str, value: object
) -> None:
    command = {**json.loads(BASE + '"population": 1, "source": "ONS"}'), field: value}
    try:
        parse_command(loads_line(json.dumps(command)))
    except LedgerError as e:
        e.message.encode("utf-8")
