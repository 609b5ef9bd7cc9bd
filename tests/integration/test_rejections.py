"""Every rejection the contract describes: the right error, a clear message, nothing stored.

docs/contract.md: "A command that names an unknown CCG, scheme, measure, criterion
or standard, breaks a rule above, or rescinds a flag that is not active, is
rejected with a clear message and stores nothing." Each case is checked on
SQLite and PostgreSQL through ``QPLedger.execute`` and through ``import_lines``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger.domain.ccgs import ccgs
from ledger.domain.errors import (
    InvalidCommand,
    LedgerError,
    RuleViolation,
    UnknownCCG,
    UnknownMeasure,
    UnknownScheme,
)
from ledger.service.application import QPLedger
from tests.ledgerkit import LOCAL_MEASURES

SCHEME = "qp-2013-14"
YEAR = "2013-14"
#: 06F has a record (population, local measures, one active and one rescinded flag);
#: 00C has never been written to.
KNOWN, FRESH = "06F", "00C"


def cmd(kind: str, ccg: str = KNOWN, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


def population(ccg: str = KNOWN, **overrides: Any) -> dict[str, Any]:
    return {**cmd("population_recorded", ccg, population=449_953, source="ONS"), **overrides}


#: A local measure's value from a CCG that has selected none (nor has a record).
LOCAL_VALUE_FROM_FRESH = cmd(
    "measure_submitted",
    FRESH,
    measure="local-1",
    criterion="dementia-diagnosis-rate",
    period=YEAR,
    value=0.5,
)


def submitted(**overrides: Any) -> dict[str, Any]:
    base = cmd("measure_submitted", measure="pyll", criterion="pyll-rate", period=YEAR, value=1950)
    return {**base, **overrides}


def standard(**overrides: Any) -> dict[str, Any]:
    base = cmd("constitution_standard_submitted", standard="ae-4-hours", period=YEAR, value=0.96)
    return {**base, **overrides}


def selection(measures: Any) -> dict[str, Any]:
    return cmd("local_measures_selected", measures=measures)


def without(command: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in command.items() if k != key}


N_CCGS = len(ccgs())

#: (id, command, error class, exact message)
CASES: list[tuple[str, Any, type[LedgerError], str]] = [
    # -- unknown names -------------------------------------------------------
    (
        "unknown-ccg",
        population("ZZZ"),
        UnknownCCG,
        f"ccg: unknown CCG code 'ZZZ' (not one of the {N_CCGS} CCGs of April 2013)",
    ),
    (
        "unknown-scheme",
        population(scheme="qp-1999-00"),
        UnknownScheme,
        "scheme: unknown scheme 'qp-1999-00'",
    ),
    (
        "unknown-measure",
        submitted(measure="obesity"),
        UnknownMeasure,
        "measure: unknown measure 'obesity' in qp-2013-14",
    ),
    (
        "unknown-criterion",
        submitted(criterion="pyll-count"),
        UnknownMeasure,
        "criterion: unknown criterion 'pyll-count' for measure pyll",
    ),
    (
        "criterion-of-another-measure",
        submitted(criterion="admissions-rate"),
        UnknownMeasure,
        "criterion: unknown criterion 'admissions-rate' for measure pyll",
    ),
    (
        "unknown-standard",
        standard(standard="ae-12-hours"),
        UnknownMeasure,
        "standard: unknown constitution standard 'ae-12-hours'",
    ),
    (
        "unknown-type",
        cmd("measure_deleted"),
        InvalidCommand,
        "type: 'measure_deleted' is not a command type",
    ),
    ("not-an-object", ["population_recorded"], InvalidCommand, "a command must be a JSON object"),
    # -- bad fields ----------------------------------------------------------
    (
        "missing-field",
        without(population(), "population"),
        InvalidCommand,
        "population: required field is missing",
    ),
    ("missing-ccg", without(population(), "ccg"), InvalidCommand, "ccg: required field is missing"),
    ("empty-ccg", population(""), InvalidCommand, "ccg: must not be empty"),
    (
        "unknown-field",
        population(colour="blue"),
        InvalidCommand,
        "unknown field(s) for population_recorded: colour",
    ),
    (
        "population-zero",
        population(population=0),
        InvalidCommand,
        "population: must be between 1 and 100000000, got 0",
    ),
    (
        "population-too-large",
        population(population=100_000_001),
        InvalidCommand,
        "population: must be between 1 and 100000000, got 100000001",
    ),
    (
        "population-string",
        population(population="449953"),
        InvalidCommand,
        'population: must be a whole number, got a string "449953"',
    ),
    (
        "population-boolean",
        population(population=True),
        InvalidCommand,
        "population: must be a whole number, got a boolean true",
    ),
    (
        "population-fraction",
        population(population=449953.5),
        InvalidCommand,
        "population: must be a whole number, got a number 449953.5",
    ),
    (
        "source-not-text",
        population(source=2013),
        InvalidCommand,
        "source: must be a string, got a number",
    ),
    (
        "reason-not-text",
        population(reason=["why"]),
        InvalidCommand,
        "reason: must be a string, got a list",
    ),
    (
        "period-not-in-scheme",
        submitted(period="2012-13"),
        InvalidCommand,
        "period: '2012-13' is not a period of qp-2013-14",
    ),
    ("value-negative", submitted(value=-1), InvalidCommand, "value: -1 is outside 0..inf"),
    (
        "value-not-a-number",
        submitted(value="1950"),
        InvalidCommand,
        "value: must be a number, got a string",
    ),
    ("value-nan", submitted(value=float("nan")), InvalidCommand, "value: must be a finite number"),
    ("standard-above-one", standard(value=1.5), InvalidCommand, "value: 1.5 is outside 0..1"),
    (
        "target-not-a-number",
        cmd(
            "threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target="2000"
        ),
        InvalidCommand,
        "target: must be a number, got a string",
    ),
    (
        "outturn-unknown",
        cmd("financial_position_declared", outturn="deficit", amount_pence=5),
        InvalidCommand,
        "outturn: 'deficit' is not balanced or overspend",
    ),
    (
        "amount-negative",
        cmd("financial_position_declared", outturn="overspend", amount_pence=-1),
        InvalidCommand,
        "amount_pence: must be between 0 and 1000000000000000, got -1",
    ),
    (
        "flag-without-description",
        cmd("quality_failure_flagged", flag_id="QF-9"),
        InvalidCommand,
        "description: required field is missing",
    ),
    (
        "two-local-measures",
        selection(LOCAL_MEASURES[:2]),
        InvalidCommand,
        "measures: exactly 3 selections are required, got 2",
    ),
    (
        "local-measures-not-a-list",
        selection("local-1"),
        InvalidCommand,
        "measures: must be a list of local measure selections",
    ),
    (
        "local-measure-direction",
        selection([{**LOCAL_MEASURES[0], "direction": "sideways"}, *LOCAL_MEASURES[1:]]),
        InvalidCommand,
        "measures[0].direction: 'sideways' is not lower or higher",
    ),
    (
        "local-measure-slot-twice",
        selection([LOCAL_MEASURES[0]] * 3),
        InvalidCommand,
        "measures: each of local-1, local-2, local-3 must be selected once",
    ),
    (
        "local-measure-bad-slot",
        selection([*LOCAL_MEASURES[:2], {**LOCAL_MEASURES[2], "slot": "local-4"}]),
        InvalidCommand,
        "measures[2].slot: 'local-4' is not a local measure slot",
    ),
    (
        "local-measure-missing-name",
        selection([LOCAL_MEASURES[0], without(LOCAL_MEASURES[1], "name"), LOCAL_MEASURES[2]]),
        InvalidCommand,
        "measures[1].name: required field is missing",
    ),
    # -- rules of the scheme and of what the record already holds ------------
    (
        "threshold-on-fixed-mrsa",
        cmd("threshold_agreed", measure="hcai", criterion="mrsa-cases", baseline=2, target=1),
        RuleViolation,
        "criterion: hcai/mrsa-cases has a target fixed by the scheme (0); it cannot be agreed",
    ),
    (
        "threshold-on-fixed-rollout",
        cmd(
            "threshold_agreed",
            measure="friends-and-family",
            criterion="rollout",
            baseline=0,
            target=1,
        ),
        RuleViolation,
        "criterion: friends-and-family/rollout has a target fixed by the scheme "
        "(1); it cannot be agreed",
    ),
    (
        "local-value-before-selection",
        LOCAL_VALUE_FROM_FRESH,
        RuleViolation,
        "measure: local-1 has not been selected yet; send local_measures_selected first",
    ),
    (
        "local-threshold-before-selection",
        cmd(
            "threshold_agreed",
            FRESH,
            measure="local-2",
            criterion="smoking-at-delivery",
            baseline=0.14,
            target=0.12,
        ),
        RuleViolation,
        "measure: local-2 has not been selected yet; send local_measures_selected first",
    ),
    (
        "local-criterion-not-selected",
        submitted(measure="local-1", criterion="smoking-at-delivery", value=0.5),
        UnknownMeasure,
        "criterion: local-1 was selected with criterion 'dementia-diagnosis-rate', "
        "not 'smoking-at-delivery'",
    ),
    (
        "local-threshold-criterion-not-selected",
        cmd(
            "threshold_agreed",
            measure="local-3",
            criterion="dementia-diagnosis-rate",
            baseline=0.1,
            target=0.2,
        ),
        UnknownMeasure,
        "criterion: local-3 was selected with criterion 'iapt-access-rate', "
        "not 'dementia-diagnosis-rate'",
    ),
    (
        "flag-id-in-use",
        cmd("quality_failure_flagged", flag_id="QF-1", description="again"),
        RuleViolation,
        "flag_id: 'QF-1' has already been used for 06F in qp-2013-14",
    ),
    (
        "flag-id-of-rescinded-flag",
        cmd("quality_failure_flagged", flag_id="QF-0", description="again"),
        RuleViolation,
        "flag_id: 'QF-0' has already been used for 06F in qp-2013-14",
    ),
    (
        "rescind-never-flagged",
        cmd("quality_failure_rescinded", flag_id="QF-9"),
        RuleViolation,
        "flag_id: 'QF-9' is not an active quality failure for 06F (was never flagged)",
    ),
    (
        "rescind-already-rescinded",
        cmd("quality_failure_rescinded", flag_id="QF-0"),
        RuleViolation,
        "flag_id: 'QF-0' is not an active quality failure for 06F (was already rescinded)",
    ),
    (
        "rescind-on-unopened-record",
        cmd("quality_failure_rescinded", FRESH, flag_id="QF-1"),
        RuleViolation,
        "flag_id: 'QF-1' is not an active quality failure for 00C (was never flagged)",
    ),
]


def seed(ledger: QPLedger) -> None:
    for command in [
        population(),
        selection(LOCAL_MEASURES),
        cmd("quality_failure_flagged", flag_id="QF-0", description="withdrawn later"),
        cmd("quality_failure_rescinded", flag_id="QF-0"),
        cmd("quality_failure_flagged", flag_id="QF-1", description="CQC warning notice"),
    ]:
        ledger.execute(command, actor="test:seed")


def snapshot(ledger: QPLedger) -> tuple[int, list[Any], list[Any], dict[str, Any]]:
    """Everything a rejected command must leave untouched."""
    return (
        ledger.max_position(),
        ledger.history(KNOWN, SCHEME),
        ledger.history(FRESH, SCHEME),
        ledger.decision(KNOWN, SCHEME).document,
    )


@pytest.mark.parametrize(
    ("command", "error", "message"), [pytest.param(c, e, m, id=i) for i, c, e, m in CASES]
)
def test_rejected_command_stores_nothing(
    ledger: QPLedger, command: Any, error: type[LedgerError], message: str
) -> None:
    seed(ledger)
    before = snapshot(ledger)
    with pytest.raises(LedgerError) as caught:
        ledger.execute(command, actor="test:rejected")
    assert type(caught.value) is error
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.to_dict()["code"] == error.code
    assert caught.value.to_dict()["message"] == message
    assert snapshot(ledger) == before
    # A rejected command for a CCG with no record does not open one.
    assert ledger.history(FRESH, SCHEME) == []


def test_rejections_name_the_field_and_what_is_allowed(ledger: QPLedger) -> None:
    seed(ledger)
    with pytest.raises(RuleViolation) as rescind:
        ledger.execute(cmd("quality_failure_rescinded", flag_id="QF-0"))
    assert rescind.value.field == "flag_id"
    assert rescind.value.allowed == ["QF-1"]
    with pytest.raises(UnknownMeasure) as local:
        ledger.execute(
            cmd("measure_submitted", measure="local-2", criterion="x", period=YEAR, value=1)
        )
    assert (local.value.field, local.value.allowed) == ("criterion", ["smoking-at-delivery"])
    with pytest.raises(InvalidCommand) as period:
        ledger.execute(submitted(period="2013-14-Q5"))
    assert period.value.field == "period"
    assert period.value.allowed == [
        "2013-14",
        "2013-14-Q1",
        "2013-14-Q2",
        "2013-14-Q3",
        "2013-14-Q4",
    ]


def test_a_rescinded_flag_cannot_be_rescinded_twice_in_a_row(ledger: QPLedger) -> None:
    seed(ledger)
    first = ledger.execute(cmd("quality_failure_rescinded", flag_id="QF-1"))
    assert ledger.decision(KNOWN, SCHEME).document["gates"][0]["open"] is True
    with pytest.raises(RuleViolation, match=r"\(was already rescinded\)"):
        ledger.execute(cmd("quality_failure_rescinded", flag_id="QF-1"))
    assert ledger.max_position() == first.position


# -- import_lines ---------------------------------------------------------------


def line(command: Any) -> str:
    return json.dumps(command)


def mixed_file() -> tuple[list[str], dict[int, type[LedgerError] | None]]:
    """A file of good and bad lines; returns the lines and, per bad line, its error."""
    lines = [
        line(population()),  # 1 ok
        '{"type": "population_recorded", "ccg": "06F",',  # 2 bad JSON
        "",  # 3 blank
        line(submitted(measure="obesity")),  # 4 unknown
        line(selection(LOCAL_MEASURES)),  # 5 ok
        line(submitted(measure="local-1", criterion="smoking-at-delivery", value=0.5)),  # 6 rule
        line(cmd("quality_failure_flagged", flag_id="QF-1", description="x")),  # 7 ok
        line(cmd("quality_failure_flagged", flag_id="QF-1", description="y")),  # 8 reuse
        line(cmd("quality_failure_rescinded", flag_id="QF-1")),  # 9 ok
        line(cmd("quality_failure_rescinded", flag_id="QF-1")),  # 10 again
        line(cmd("quality_failure_rescinded", FRESH, flag_id="QF-1")),  # 11 new CCG
        '{"type": "measure_submitted", "ccg": "06F", "scheme": "qp-2013-14", "measure": '
        '"pyll", "criterion": "pyll-rate", "period": "2013-14", "value": NaN}',  # 12 NaN
        line(
            submitted(measure="local-1", criterion="dementia-diagnosis-rate", value=0.52)
        ),  # 13 ok
        line(population("ZZZ")),  # 14 unknown
        "[1, 2, 3]",  # 15 not obj
        line(population("00D", population=287_987)),  # 16 ok
    ]
    bad: dict[int, type[LedgerError] | None] = {
        2: None,
        4: UnknownMeasure,
        6: UnknownMeasure,
        8: RuleViolation,
        10: RuleViolation,
        11: RuleViolation,
        12: InvalidCommand,
        14: UnknownCCG,
        15: InvalidCommand,
    }
    return lines, bad


@pytest.mark.parametrize("batch_size", [200, 3, 1])
def test_import_stores_exactly_the_valid_lines(ledger: QPLedger, batch_size: int) -> None:
    lines, bad = mixed_file()
    report = ledger.import_lines(lines, actor="test:import", batch_size=batch_size)

    assert (report.stored, report.rejected) == (6, len(bad))
    assert [e["line"] for e in report.errors] == sorted(bad)
    for error in report.errors:
        expected = bad[error["line"]]
        assert error["code"] == ("invalid-json" if expected is None else expected.code)
        assert error["message"]
    # Rule rejections carry the same message as through execute.
    messages = {e["line"]: e["message"] for e in report.errors}
    assert messages[8] == "flag_id: 'QF-1' has already been used for 06F in qp-2013-14"
    assert messages[10] == (
        "flag_id: 'QF-1' is not an active quality failure for 06F (was already rescinded)"
    )
    assert messages[2].startswith("not valid JSON")
    # 06F: opened + lines 1, 5, 7, 9, 13; 00D: opened + line 16; 00C: never opened.
    assert ledger.max_position() == report.last_position == 8
    assert report.summary() == {"stored": 6, "rejected": 9, "last_position": 8}
    assert [e["type"] for e in ledger.history(KNOWN, SCHEME)] == [
        "record_opened",
        "population_recorded",
        "local_measures_selected",
        "quality_failure_flagged",
        "quality_failure_rescinded",
        "measure_submitted",
    ]
    assert ledger.history(FRESH, SCHEME) == []
    assert [e["type"] for e in ledger.history("00D", SCHEME)] == [
        "record_opened",
        "population_recorded",
    ]
    assert all(e["actor"] == "test:import" for e in ledger.history(KNOWN, SCHEME))


def test_import_of_only_rejected_lines_stores_nothing(ledger: QPLedger) -> None:
    seed(ledger)
    before = snapshot(ledger)
    report = ledger.import_lines([line(c) for _, c, _, _ in CASES])
    assert (report.stored, report.rejected) == (0, len(CASES))
    assert [e["line"] for e in report.errors] == list(range(1, len(CASES) + 1))
    for error, (case, _, kind, message) in zip(report.errors, CASES, strict=True):
        # A fraction's message over import is test_fractional_population_message_over_import
        # (a known bug).
        if case != "population-fraction":
            assert (error["code"], error["message"]) == (kind.code, message)
    assert snapshot(ledger) == before
    assert report.last_position == before[0]


def test_rejected_first_line_for_a_new_ccg_does_not_open_its_record(ledger: QPLedger) -> None:
    report = ledger.import_lines(
        [
            line(LOCAL_VALUE_FROM_FRESH),
            line(cmd("quality_failure_rescinded", FRESH, flag_id="QF-1")),
        ]
    )
    assert (report.stored, report.rejected) == (0, 2)
    assert ledger.max_position() == 0
    assert ledger.history(FRESH, SCHEME) == []
    # A later valid line opens it once, with only the valid fact after the opening.
    report = ledger.import_lines(
        [
            line(cmd("quality_failure_rescinded", FRESH, flag_id="QF-1")),
            line(population(FRESH, population=106_303)),
        ]
    )
    assert (report.stored, report.rejected) == (1, 1)
    assert [e["type"] for e in ledger.history(FRESH, SCHEME)] == [
        "record_opened",
        "population_recorded",
    ]
    assert ledger.decision(FRESH, SCHEME).document["maximum_pence"] == 53_151_500


def test_fractional_population_message_over_import(ledger: QPLedger) -> None:
    report = ledger.import_lines([line(population(population=449953.5))])
    assert report.errors[0]["message"] == (
        "population: must be a whole number, got a number 449953.5"
    )
