"""Properties of the decision engine over random facts for both shipped schemes.

The oracle below restates docs/contract.md's rules directly on the facts (criterion
met / pending, measure met when all criteria met, pending when any unknown) and
does the money with exact fractions, so each property checks the engine
against the contract, not against itself.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.facts import (
    EventRef,
    Facts,
    FinancialFact,
    FlagFact,
    LocalMeasureFact,
    PopulationFact,
    ThresholdFact,
    ValueFact,
)
from ledger.domain.scheme import Measure, Scheme, get_scheme
from ledger.engine.decide import decide

D = Decimal
SCHEMES = [get_scheme("qp-2013-14"), get_scheme("qp-2014-15")]
PROPERTY = settings(max_examples=200, deadline=None)


# --------------------------------------------------------------------------- strategies


class _Log:
    """Hands out event refs at increasing log positions."""

    def __init__(self, start: int = 0) -> None:
        self.position = start

    def ref(self, kind: str) -> EventRef:
        self.position += 1
        return EventRef(
            f"evt-{self.position}", self.position, kind, f"2014-05-01T00:00:{self.position:02d}Z"
        )


def _sometimes_none(draw: st.DrawFn, strategy: st.SearchStrategy[Any], complete: bool) -> Any:
    """Unknown about one time in six, never in a ``complete`` year (so finals are common)."""
    return None if not complete and draw(st.integers(0, 5)) == 0 else draw(strategy)


#: Measure values and targets on a coarse grid, so equality (the boundary) is frequent.
GRID = st.integers(0, 12).map(lambda n: D(n) / 2)


def _standard_value(threshold: Decimal) -> st.SearchStrategy[Decimal]:
    near = st.sampled_from([threshold - D("0.01"), threshold, threshold + D("0.01")])
    anywhere = st.integers(0, 100).map(lambda n: D(n) / 100)
    return st.one_of(near, anywhere)


@st.composite
def facts_for(draw: st.DrawFn, scheme: Scheme) -> Facts:
    log = _Log(draw(st.integers(0, 10_000)))
    complete = draw(st.booleans())  # every fact known: the year can be decided
    period = scheme.assessment_period
    population = _sometimes_none(draw, st.integers(1, 10_000_000), complete)
    local: dict[str, LocalMeasureFact] = {}
    thresholds: dict[str, ThresholdFact] = {}
    values: dict[str, ValueFact] = {}
    for measure in scheme.measures:
        if measure.local:
            if not complete and draw(st.integers(0, 5)) == 0:
                continue  # not selected yet
            direction = draw(st.sampled_from(["lower", "higher"]))
            chosen = draw(st.sampled_from(["rate", "score"]))
            ref = log.ref("LocalMeasuresSelected")
            local[measure.id] = LocalMeasureFact(measure.id, "Local", chosen, direction, ref)
            criteria = [(chosen, None)]
        else:
            criteria = [(c.id, c.fixed_target) for c in measure.criteria]
        for criterion, fixed in criteria:
            key = f"{measure.id}/{criterion}"
            if fixed is None:
                target = _sometimes_none(draw, GRID, complete)
                if target is not None:
                    thresholds[key] = ThresholdFact(
                        measure.id, criterion, D(6), target, log.ref("ThresholdAgreed")
                    )
            fixed_grid = st.integers(0, 2).map(D)
            value = _sometimes_none(draw, GRID if fixed is None else fixed_grid, complete)
            if value is not None:
                values[f"{key}/{period}"] = ValueFact(
                    f"{key}/{period}", period, value, log.ref("MeasureSubmitted")
                )
            if draw(st.booleans()):  # an in-year figure: recorded, never decisive
                quarter = f"{period}-Q{draw(st.integers(1, 4))}"
                values[f"{key}/{quarter}"] = ValueFact(
                    f"{key}/{quarter}", quarter, draw(GRID), log.ref("MeasureSubmitted")
                )
    standards: dict[str, ValueFact] = {}
    for standard in scheme.standards:
        value = _sometimes_none(draw, _standard_value(standard.threshold), complete)
        if value is not None:
            key = f"{standard.id}/{period}"
            standards[key] = ValueFact(key, period, value, log.ref("StandardSubmitted"))
    flags: dict[str, FlagFact] = {}
    for n in range(draw(st.integers(0, 2))):
        flagged = log.ref("QualityFailureFlagged")
        if draw(st.integers(0, 2)) == 0:
            flags[f"f{n}"] = FlagFact(f"f{n}", "failure", True, (flagged,))
        else:
            rescinded = log.ref("QualityFailureRescinded")
            flags[f"f{n}"] = FlagFact(f"f{n}", "failure", False, (flagged, rescinded))
    outturn = _sometimes_none(
        draw, st.sampled_from(["balanced", "balanced", "overspend"]), complete
    )
    financial = None
    if outturn is not None:
        amount = 0 if outturn == "balanced" else draw(st.integers(1, 10**9))
        financial = FinancialFact(outturn, amount, log.ref("FinancialPositionDeclared"))
    return Facts(
        ccg=draw(st.sampled_from(["06F", "00C", "99P"])),
        scheme=scheme.id,
        position=log.position,
        as_of=f"2014-05-01T00:00:{log.position:02d}Z",
        population=None
        if population is None
        else PopulationFact(population, "ONS", log.ref("PopulationRecorded")),
        local_measures=local,
        thresholds=thresholds,
        values=values,
        standards=standards,
        flags=flags,
        financial=financial,
    )


scheme_and_facts = st.sampled_from(SCHEMES).flatmap(
    lambda scheme: st.tuples(st.just(scheme), facts_for(scheme))
)


# --------------------------------------------------------------------------- the oracle


def oracle_measure(scheme: Scheme, facts: Facts, measure: Measure) -> bool | None:
    """docs/contract.md: met when all criteria met; null when any is unknown."""
    if measure.local:
        chosen = facts.local_measures.get(measure.id)
        if chosen is None:
            return None
        criteria = [(chosen.criterion, chosen.direction, None)]
    else:
        criteria = [(c.id, c.direction, c.fixed_target) for c in measure.criteria]
    results: list[bool | None] = []
    for criterion, direction, fixed in criteria:
        submitted = facts.values.get(f"{measure.id}/{criterion}/{scheme.year}")
        agreed = facts.thresholds.get(f"{measure.id}/{criterion}")
        target = fixed if fixed is not None else (agreed.target if agreed else None)
        if submitted is None or target is None:
            results.append(None)
        elif direction == "lower":
            results.append(submitted.value <= target)
        else:
            results.append(submitted.value >= target)
    if any(r is None for r in results):
        return None
    return all(results)


def oracle_standard(scheme: Scheme, facts: Facts, standard_id: str) -> bool | None:
    standard = scheme.standard(standard_id)
    assert standard is not None
    submitted = facts.standards.get(f"{standard_id}/{scheme.year}")
    return None if submitted is None else submitted.value >= standard.threshold


def gates_closed(facts: Facts) -> bool:
    active = any(f.active for f in facts.flags.values())
    overspent = facts.financial is not None and facts.financial.outturn == "overspend"
    return active or overspent


def everything_decided(scheme: Scheme, facts: Facts) -> bool:
    return (
        facts.population is not None
        and facts.financial is not None
        and all(oracle_measure(scheme, facts, m) is not None for m in scheme.measures)
        and all(oracle_standard(scheme, facts, s.id) is not None for s in scheme.standards)
    )


def oracle_payable(scheme: Scheme, facts: Facts) -> int:
    if gates_closed(facts) or facts.population is None:
        return 0
    maximum = 500 * facts.population.population
    met = sum(
        (Fraction(str(m.share)) for m in scheme.measures if oracle_measure(scheme, facts, m)),
        Fraction(0),
    )
    missed = sum(1 for s in scheme.standards if oracle_standard(scheme, facts, s.id) is False)
    factor = max(Fraction(0), 1 - Fraction(1, 4) * missed)
    return int(maximum * met * factor + Fraction(1, 2))  # half up (amount >= 0)


# --------------------------------------------------------------------------- changing facts


def _next_ref(facts: Facts, kind: str) -> EventRef:
    position = facts.position + 1
    return EventRef(f"evt-new-{position}", position, kind, "2014-07-01T00:00:00Z")


def with_measure_met(scheme: Scheme, facts: Facts, measure: Measure) -> Facts:
    """The same facts plus the events that make ``measure`` met."""
    local = dict(facts.local_measures)
    thresholds = dict(facts.thresholds)
    values = dict(facts.values)
    position = facts.position
    if measure.local:
        if measure.id not in local:
            position += 1
            ref = _next_ref(dataclasses.replace(facts, position=position - 1), "Selected")
            local[measure.id] = LocalMeasureFact(measure.id, "Local", "rate", "lower", ref)
        chosen = local[measure.id]
        criteria = [(chosen.criterion, None)]
    else:
        criteria = [(c.id, c.fixed_target) for c in measure.criteria]
    for criterion, fixed in criteria:
        key = f"{measure.id}/{criterion}"
        target = fixed
        if fixed is None:
            position += 1
            ref = EventRef(f"evt-new-{position}", position, "ThresholdAgreed", "t")
            thresholds[key] = ThresholdFact(measure.id, criterion, D(6), D(3), ref)
            target = D(3)
        assert target is not None
        position += 1
        ref = EventRef(f"evt-new-{position}", position, "MeasureSubmitted", "t")
        full = f"{key}/{scheme.year}"
        values[full] = ValueFact(full, scheme.year, target, ref)  # equal: met either way
    return dataclasses.replace(
        facts,
        position=position,
        local_measures=local,
        thresholds=thresholds,
        values=values,
    )


def with_standard_missed(scheme: Scheme, facts: Facts, standard_id: str) -> Facts:
    standard = scheme.standard(standard_id)
    assert standard is not None
    key = f"{standard_id}/{scheme.year}"
    ref = _next_ref(facts, "StandardSubmitted")
    missed = ValueFact(key, scheme.year, standard.threshold - D("0.001"), ref)
    return dataclasses.replace(
        facts, position=ref.position, standards={**facts.standards, key: missed}
    )


# --------------------------------------------------------------------------- properties


@PROPERTY
@given(scheme_and_facts)
def test_payable_is_between_zero_and_the_maximum(case: tuple[Scheme, Facts]) -> None:
    scheme, facts = case
    doc = decide(scheme, facts).document
    expected_maximum = 0 if facts.population is None else 500 * facts.population.population
    assert doc["maximum_pence"] == expected_maximum
    assert 0 <= doc["payable_pence"] <= doc["earned_pence"] <= doc["maximum_pence"]
    assert isinstance(doc["payable_pence"], int)


@PROPERTY
@given(scheme_and_facts)
def test_a_closed_gate_always_pays_nothing(case: tuple[Scheme, Facts]) -> None:
    scheme, facts = case
    doc = decide(scheme, facts).document
    if gates_closed(facts):
        assert doc["payable_pence"] == 0
    quality = next(g for g in doc["gates"] if g["gate"] == "quality-failure")
    assert quality["open"] is (not any(f.active for f in facts.flags.values()))
    financial = next(g for g in doc["gates"] if g["gate"] == "financial-balance")
    expected = None if facts.financial is None else facts.financial.outturn == "balanced"
    assert financial["open"] is expected


@PROPERTY
@given(scheme_and_facts)
def test_status_is_final_exactly_when_everything_is_decided(case: tuple[Scheme, Facts]) -> None:
    scheme, facts = case
    doc = decide(scheme, facts).document
    assert (doc["status"] == "final") is everything_decided(scheme, facts)
    assert doc["status"] in ("final", "provisional")


@PROPERTY
@given(scheme_and_facts)
def test_payable_follows_the_contract_formula(case: tuple[Scheme, Facts]) -> None:
    scheme, facts = case
    doc = decide(scheme, facts).document
    assert doc["payable_pence"] == oracle_payable(scheme, facts)
    for line in doc["components"]:
        measure = scheme.measure(line["measure"])
        assert measure is not None
        assert line["met"] is oracle_measure(scheme, facts, measure)
        assert line["share"] == str(measure.share)
    for line in doc["deductions"]:
        met = oracle_standard(scheme, facts, line["standard"])
        assert line["met"] is met
        assert line["reduction"] == ("0.25" if met is False else "0")


@PROPERTY
@given(scheme_and_facts)
def test_decide_is_deterministic_and_the_digest_ignores_when(case: tuple[Scheme, Facts]) -> None:
    scheme, facts = case
    first = decide(scheme, facts)
    again = decide(scheme, copy.deepcopy(facts))
    assert first.document == again.document
    assert json.dumps(first.document, sort_keys=True) == json.dumps(again.document, sort_keys=True)
    later = decide(scheme, dataclasses.replace(facts, position=facts.position + 99, as_of="later"))
    assert later.inputs_digest == first.inputs_digest
    assert first.inputs_digest.startswith("sha256:")
    json.dumps(first.document)  # always renderable


@PROPERTY
@given(scheme_and_facts, st.data())
def test_meeting_one_more_measure_never_lowers_payable(
    case: tuple[Scheme, Facts], data: st.DataObject
) -> None:
    scheme, facts = case
    measure = data.draw(st.sampled_from(scheme.measures))
    before = decide(scheme, facts).document
    improved = with_measure_met(scheme, facts, measure)
    after = decide(scheme, improved).document
    assert next(c for c in after["components"] if c["measure"] == measure.id)["met"] is True
    assert after["payable_pence"] >= before["payable_pence"]
    was_met = oracle_measure(scheme, facts, measure) is True
    factor = Fraction(after["deduction_factor"])
    if not was_met and not gates_closed(facts) and facts.population and factor > 0:
        # the smallest step (500p x 0.125 x 0.25 > 15p) cannot be lost to rounding
        assert after["payable_pence"] > before["payable_pence"]


@PROPERTY
@given(scheme_and_facts, st.data())
def test_missing_one_more_standard_never_raises_payable(
    case: tuple[Scheme, Facts], data: st.DataObject
) -> None:
    scheme, facts = case
    standard = data.draw(st.sampled_from(scheme.standards))
    before = decide(scheme, facts).document
    after = decide(scheme, with_standard_missed(scheme, facts, standard.id)).document
    assert after["payable_pence"] <= before["payable_pence"]
    assert after["earned_pence"] == before["earned_pence"]  # deductions reduce, never unearn


@PROPERTY
@given(scheme_and_facts)
def test_an_active_flag_or_an_overspend_added_to_any_facts_pays_nothing(
    case: tuple[Scheme, Facts],
) -> None:
    scheme, facts = case
    flagged = _next_ref(facts, "QualityFailureFlagged")
    with_flag = dataclasses.replace(
        facts, flags={**facts.flags, "new": FlagFact("new", "failure", True, (flagged,))}
    )
    overspent = dataclasses.replace(
        facts, financial=FinancialFact("overspend", 1, _next_ref(facts, "FinancialDeclared"))
    )
    assert decide(scheme, with_flag).payable_pence == 0
    assert decide(scheme, overspent).payable_pence == 0
