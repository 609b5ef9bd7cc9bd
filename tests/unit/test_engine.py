"""The decision engine, on hand-built facts.

Expected money is worked out in each test from docs/contract.md's formula

    payable = round_half_up(maximum x sum of met shares x max(0, 1 - 0.25 x missed))

with exact fractions (``expected_pence``), never read back from the engine.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from ledger.domain.commands import loads_line, parse_command
from ledger.domain.errors import InvalidCommand
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
from ledger.domain.scheme import Scheme, get_scheme
from ledger.engine.decide import ENGINE_VERSION, decide

D = Decimal
QP13 = get_scheme("qp-2013-14")
QP14 = get_scheme("qp-2014-15")
ALL_2013_MEASURES = [m.id for m in QP13.measures]
STANDARDS = [s.id for s in QP13.standards]


def half_up(amount: Fraction) -> int:
    """Round half up, computed independently of the engine (exact fractions, no Decimal)."""
    assert amount >= 0
    return int(amount + Fraction(1, 2))  # int() truncates towards zero == floor for >= 0


def expected_pence(population: int, shares: list[str], missed: int = 0) -> int:
    maximum = 500 * population
    factor = max(Fraction(0), 1 - Fraction(1, 4) * missed)
    return half_up(maximum * sum((Fraction(s) for s in shares), Fraction(0)) * factor)


class FactsBuilder:
    """Builds the ``Facts`` a replay would hand the engine, one event at a time.

    Each method records an event (an ``EventRef`` with the next log position) and
    returns it, so a test can check the decision names exactly those events. As
    in the ledger, a later threshold or value for the same key replaces the
    earlier one: the facts hold only the latest.
    """

    def __init__(self, scheme: Scheme = QP13, ccg: str = "06F") -> None:
        self.scheme = scheme
        self.ccg = ccg
        self.position = 100
        self.population_fact: PopulationFact | None = None
        self.local: dict[str, LocalMeasureFact] = {}
        self.thresholds: dict[str, ThresholdFact] = {}
        self.values: dict[str, ValueFact] = {}
        self.standards: dict[str, ValueFact] = {}
        self.flags: dict[str, FlagFact] = {}
        self.financial_fact: FinancialFact | None = None

    def ref(self, kind: str) -> EventRef:
        # positions skip, as other CCGs' events interleave in the global log
        self.position += 7
        at = datetime(2014, 4, 1, tzinfo=UTC) + timedelta(minutes=self.position)
        return EventRef(f"evt-{self.position:05d}", self.position, kind, at.isoformat())

    @property
    def period(self) -> str:
        return self.scheme.assessment_period

    def population(self, population: int, source: str = "ONS") -> EventRef:
        event = self.ref("PopulationRecorded")
        self.population_fact = PopulationFact(population, source, event)
        return event

    def select(
        self, slot: str, criterion: str | None = None, direction: str = "lower", name: str = ""
    ) -> EventRef:
        event = self.ref("LocalMeasuresSelected")
        self.local[slot] = LocalMeasureFact(
            slot, name or f"Local {slot}", criterion or f"{slot}-rate", direction, event
        )
        return event

    def threshold(self, measure: str, criterion: str, target: Any, baseline: Any = 100) -> EventRef:
        event = self.ref("ThresholdAgreed")
        key = f"{measure}/{criterion}"
        self.thresholds[key] = ThresholdFact(measure, criterion, D(baseline), D(target), event)
        return event

    def value(self, measure: str, criterion: str, value: Any, period: str = "") -> EventRef:
        event = self.ref("MeasureSubmitted")
        key = f"{measure}/{criterion}/{period or self.period}"
        self.values[key] = ValueFact(key, period or self.period, D(value), event)
        return event

    def standard(self, standard: str, value: Any, period: str = "") -> EventRef:
        event = self.ref("ConstitutionStandardSubmitted")
        key = f"{standard}/{period or self.period}"
        self.standards[key] = ValueFact(key, period or self.period, D(value), event)
        return event

    def flag(self, flag_id: str) -> EventRef:
        event = self.ref("QualityFailureFlagged")
        self.flags[flag_id] = FlagFact(flag_id, "serious failure", True, (event,))
        return event

    def rescind(self, flag_id: str) -> EventRef:
        event = self.ref("QualityFailureRescinded")
        old = self.flags[flag_id]
        self.flags[flag_id] = FlagFact(flag_id, old.description, False, (*old.events, event))
        return event

    def financial(self, outturn: str = "balanced", amount: int = 0) -> EventRef:
        event = self.ref("FinancialPositionDeclared")
        self.financial_fact = FinancialFact(outturn, amount, event)
        return event

    # ---- whole measures and standards

    def criteria(self, measure_id: str) -> list[tuple[str, str, Decimal | None]]:
        """(criterion, direction, fixed target) of a measure; selects a local one if needed."""
        measure = self.scheme.measure(measure_id)
        assert measure is not None
        if measure.local:
            if measure_id not in self.local:
                self.select(measure_id)
            chosen = self.local[measure_id]
            return [(chosen.criterion, chosen.direction, None)]
        return [(c.id, c.direction, c.fixed_target) for c in measure.criteria]

    def meet(self, *measure_ids: str) -> None:
        self._values(measure_ids, met=True)

    def miss(self, *measure_ids: str) -> None:
        self._values(measure_ids, met=False)

    def _values(self, measure_ids: tuple[str, ...], *, met: bool) -> None:
        """Every criterion's value on its target (the boundary: still met) or one past it."""
        for measure_id in measure_ids:
            for criterion, direction, fixed in self.criteria(measure_id):
                target = fixed if fixed is not None else D(10)
                if fixed is None:
                    self.threshold(measure_id, criterion, target)
                missed = target + (1 if direction == "lower" else -1)
                self.value(measure_id, criterion, target if met else missed)

    def meet_standards(self, *standard_ids: str) -> None:
        for standard_id in standard_ids:
            standard = self.scheme.standard(standard_id)
            assert standard is not None
            self.standard(standard_id, standard.threshold)

    def miss_standards(self, *standard_ids: str) -> None:
        for standard_id in standard_ids:
            standard = self.scheme.standard(standard_id)
            assert standard is not None
            self.standard(standard_id, standard.threshold - D("0.01"))

    def decided_year(self, population: int = 449953) -> FactsBuilder:
        """Everything known: population, every measure met, every standard met, balanced."""
        self.population(population)
        self.meet(*(m.id for m in self.scheme.measures))
        self.meet_standards(*(s.id for s in self.scheme.standards))
        self.financial("balanced")
        return self

    def build(self, position: int | None = None, as_of: str | None = None) -> Facts:
        return Facts(
            ccg=self.ccg,
            scheme=self.scheme.id,
            position=self.position if position is None else position,
            as_of=as_of if as_of is not None else "2014-06-30T12:00:00+00:00",
            population=self.population_fact,
            local_measures=dict(self.local),
            thresholds=dict(self.thresholds),
            values=dict(self.values),
            standards=dict(self.standards),
            flags=dict(self.flags),
            financial=self.financial_fact,
        )

    def decide(self) -> dict[str, Any]:
        return decide(self.scheme, self.build()).document


def component(doc: dict[str, Any], measure: str) -> dict[str, Any]:
    (found,) = [c for c in doc["components"] if c["measure"] == measure]
    return found


def criterion_line(doc: dict[str, Any], measure: str, criterion: str) -> dict[str, Any]:
    (found,) = [c for c in component(doc, measure)["criteria"] if c["criterion"] == criterion]
    return found


def deduction(doc: dict[str, Any], standard: str) -> dict[str, Any]:
    (found,) = [d for d in doc["deductions"] if d["standard"] == standard]
    return found


def gate(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [g for g in doc["gates"] if g["gate"] == name]
    return found


def refs(*events: EventRef) -> list[dict[str, Any]]:
    """How the contract lists events: id, log position (and type), in log order."""
    return [
        {"id": e.id, "position": e.position, "type": e.type}
        for e in sorted(events, key=lambda e: e.position)
    ]


# --------------------------------------------------------------------------- worked example


def test_06f_population_sets_the_maximum_and_pyll_alone_earns_an_eighth() -> None:
    facts = FactsBuilder()
    facts.population(449953)
    facts.meet("pyll")
    doc = facts.decide()
    assert doc["population"] == 449953
    assert doc["maximum_pence"] == 224976500 == 500 * 449953
    # 224976500 x 0.125 = 28122062.5 -> half up
    assert doc["payable_pence"] == 28122063 == expected_pence(449953, ["0.125"])
    assert doc["earned_pence"] == 28122063
    assert component(doc, "pyll")["met"] is True
    assert component(doc, "pyll")["earned_pence"] == 28122063
    assert doc["status"] == "provisional"


def test_a_full_year_with_everything_met_pays_the_maximum_and_is_final() -> None:
    doc = FactsBuilder().decided_year(449953).decide()
    assert doc["status"] == "final"
    assert doc["payable_pence"] == doc["earned_pence"] == 224976500
    assert all(c["met"] is True for c in doc["components"])
    assert all(g["open"] is True for g in doc["gates"])
    assert all(d["met"] is True and d["reduction"] == "0" for d in doc["deductions"])


def test_without_a_population_there_is_no_money_and_no_final_decision() -> None:
    facts = FactsBuilder()
    facts.meet(*ALL_2013_MEASURES)
    facts.meet_standards(*STANDARDS)
    facts.financial("balanced")
    doc = facts.decide()
    assert doc["population"] is None
    assert doc["maximum_pence"] == 0
    assert doc["payable_pence"] == 0
    assert doc["status"] == "provisional"
    assert all(c["met"] is True for c in doc["components"])


# --------------------------------------------------------------------------- criteria


@pytest.mark.parametrize(
    ("direction", "value", "target", "met"),
    [
        ("lower", "5", "10", True),
        ("lower", "10", "10", True),  # <= : equality is met
        ("lower", "10.0001", "10", False),
        ("lower", "0", "0", True),
        ("higher", "15", "10", True),
        ("higher", "10", "10", True),  # >= : equality is met
        ("higher", "9.9999", "10", False),
        ("higher", "0.75", "0.750", True),  # equal values in different notation
    ],
)
def test_a_criterion_is_met_by_direction_with_equality_met(
    direction: str, value: str, target: str, met: bool
) -> None:
    facts = FactsBuilder()
    facts.population(1000)
    facts.select("local-1", "dementia-dx", direction)
    facts.threshold("local-1", "dementia-dx", target)
    facts.value("local-1", "dementia-dx", value)
    doc = facts.decide()
    line = criterion_line(doc, "local-1", "dementia-dx")
    assert line["met"] is met
    assert line["direction"] == direction
    assert D(str(line["value"])) == D(value)
    assert D(str(line["target"])) == D(target)
    assert component(doc, "local-1")["met"] is met
    assert doc["payable_pence"] == (expected_pence(1000, ["0.125"]) if met else 0)


@pytest.mark.parametrize(
    ("measure", "criterion", "value", "met"),
    [
        ("pyll", "pyll-rate", "1999", True),
        ("pyll", "pyll-rate", "2000", True),
        ("pyll", "pyll-rate", "2001", False),
        ("avoidable-emergency-admissions", "admissions-rate", "2000", True),
        ("avoidable-emergency-admissions", "admissions-rate", "2000.5", False),
        ("friends-and-family", "experience-score", "2000", True),
        ("friends-and-family", "experience-score", "1999.5", False),
        ("friends-and-family", "experience-score", "2500", True),
        ("hcai", "cdiff-cases", "2000", True),
        ("hcai", "cdiff-cases", "2001", False),
    ],
)
def test_the_schemes_directions_are_applied(
    measure: str, criterion: str, value: str, met: bool
) -> None:
    facts = FactsBuilder()
    facts.threshold(measure, criterion, 2000)
    facts.value(measure, criterion, value)
    line = criterion_line(facts.decide(), measure, criterion)
    assert line["met"] is met
    assert line["target_source"] == "agreed"


@pytest.mark.parametrize(
    ("known", "why"), [("value", "no agreed target yet"), ("threshold", "no value yet")]
)
def test_a_criterion_is_pending_until_value_and_target_are_known(known: str, why: str) -> None:
    facts = FactsBuilder()
    facts.population(1000)
    if known == "value":
        facts.value("pyll", "pyll-rate", 1)
    else:
        facts.threshold("pyll", "pyll-rate", 1)
    doc = facts.decide()
    assert criterion_line(doc, "pyll", "pyll-rate")["met"] is None, why
    assert component(doc, "pyll")["met"] is None
    assert component(doc, "pyll")["earned_pence"] == 0
    assert doc["payable_pence"] == 0  # earned only on evidence of improvement


def test_a_quarterly_value_does_not_decide_the_year() -> None:
    facts = FactsBuilder()
    facts.threshold("pyll", "pyll-rate", 10)
    facts.value("pyll", "pyll-rate", 1, period="2013-14-Q4")
    line = criterion_line(facts.decide(), "pyll", "pyll-rate")
    assert line["value"] is None
    assert line["met"] is None


@pytest.mark.parametrize(
    ("measure", "criterion", "value", "met", "target"),
    [
        ("hcai", "mrsa-cases", 0, True, 0),
        ("hcai", "mrsa-cases", 1, False, 0),  # zero tolerance
        ("friends-and-family", "rollout", 1, True, 1),
        ("friends-and-family", "rollout", 0, False, 1),
    ],
)
def test_fixed_targets_need_no_agreement(
    measure: str, criterion: str, value: int, met: bool, target: int
) -> None:
    facts = FactsBuilder()
    event = facts.value(measure, criterion, value)
    line = criterion_line(facts.decide(), measure, criterion)
    assert line["met"] is met
    assert line["target"] == target
    assert line["target_source"] == "fixed"
    assert line["events"] == refs(event)


def test_an_agreed_threshold_cannot_move_a_fixed_target() -> None:
    """Even if such a fact reached the engine, the scheme's fixed target wins."""
    facts = FactsBuilder()
    facts.threshold("hcai", "mrsa-cases", 5)
    facts.value("hcai", "mrsa-cases", 2)
    line = criterion_line(facts.decide(), "hcai", "mrsa-cases")
    assert line["target"] == 0
    assert line["met"] is False


# --------------------------------------------------------------------------- two criteria


@pytest.mark.parametrize(
    ("mrsa", "cdiff", "cdiff_target", "met"),
    [
        (0, 30, 31, True),
        (0, 31, 31, True),
        (1, 30, 31, False),  # one MRSA case fails the measure
        (0, 32, 31, False),
        (3, 40, 31, False),
        (None, 30, 31, None),  # pending: MRSA not reported
        (0, None, 31, None),  # pending: C. difficile not reported
        (0, 30, None, None),  # pending: C. difficile threshold not agreed
        (1, None, 31, None),  # contract: null when ANY criterion is unknown
        (None, 40, 31, None),
    ],
)
def test_hcai_needs_zero_mrsa_and_cdiff_within_the_agreed_threshold(
    mrsa: int | None, cdiff: int | None, cdiff_target: int | None, met: bool | None
) -> None:
    facts = FactsBuilder()
    facts.population(449953)
    if mrsa is not None:
        facts.value("hcai", "mrsa-cases", mrsa)
    if cdiff is not None:
        facts.value("hcai", "cdiff-cases", cdiff)
    if cdiff_target is not None:
        facts.threshold("hcai", "cdiff-cases", cdiff_target)
    doc = facts.decide()
    hcai = component(doc, "hcai")
    assert hcai["met"] is met
    assert [c["criterion"] for c in hcai["criteria"]] == ["mrsa-cases", "cdiff-cases"]
    earned = expected_pence(449953, ["0.125"]) if met else 0
    assert hcai["earned_pence"] == earned
    assert doc["payable_pence"] == earned


# --------------------------------------------------------------------------- local measures


def test_an_unselected_local_measure_is_pending_and_earns_nothing() -> None:
    facts = FactsBuilder()
    facts.population(1000)
    facts.threshold("local-2", "falls", 10)  # a stray fact cannot decide an unnamed measure
    facts.value("local-2", "falls", 1)
    doc = facts.decide()
    local = component(doc, "local-2")
    assert local["met"] is None
    assert local["criteria"] == []
    assert local["local_name"] is None
    assert local["events"] == []
    assert local["earned_pence"] == 0
    assert doc["payable_pence"] == 0


def test_a_selected_local_measure_uses_the_named_criterion_and_direction() -> None:
    facts = FactsBuilder()
    facts.population(1000)
    chosen = facts.select("local-3", "dementia-dx", "higher", name="Dementia diagnosis")
    agreed = facts.threshold("local-3", "dementia-dx", "0.6")
    submitted = facts.value("local-3", "dementia-dx", "0.61")
    doc = facts.decide()
    local = component(doc, "local-3")
    assert local["met"] is True
    assert local["local_name"] == "Dementia diagnosis"
    assert local["events"] == refs(chosen)
    (line,) = local["criteria"]
    assert line["criterion"] == "dementia-dx"
    assert line["direction"] == "higher"
    assert line["events"] == refs(agreed, submitted)
    assert doc["payable_pence"] == expected_pence(1000, ["0.125"])


def test_a_local_measure_ignores_facts_for_a_criterion_it_did_not_select() -> None:
    facts = FactsBuilder()
    facts.select("local-1", "new-criterion", "lower")
    facts.threshold("local-1", "old-criterion", 10)
    facts.value("local-1", "old-criterion", 1)
    assert component(facts.decide(), "local-1")["met"] is None


# --------------------------------------------------------------------------- revisions


def test_a_revised_threshold_replaces_the_original_in_the_decision() -> None:
    facts = FactsBuilder()
    facts.population(449953)
    original = facts.threshold("pyll", "pyll-rate", 2000, baseline=2100)
    submitted = facts.value("pyll", "pyll-rate", 1950)
    before = facts.decide()
    assert component(before, "pyll")["met"] is True
    assert criterion_line(before, "pyll", "pyll-rate")["events"] == refs(original, submitted)

    revised = facts.threshold("pyll", "pyll-rate", 1900, baseline=2050)
    after = facts.decide()
    line = criterion_line(after, "pyll", "pyll-rate")
    assert line["target"] == 1900
    assert line["baseline"] == 2050
    assert line["met"] is False
    assert line["events"] == refs(submitted, revised)
    assert original.id not in {e["id"] for e in line["events"]}
    assert after["payable_pence"] == 0
    assert before["inputs_digest"] != after["inputs_digest"]


def test_a_corrected_value_replaces_the_earlier_submission() -> None:
    facts = FactsBuilder()
    agreed = facts.threshold("pyll", "pyll-rate", 2000)
    facts.value("pyll", "pyll-rate", 2100)
    correction = facts.value("pyll", "pyll-rate", "1999.9")
    line = criterion_line(facts.decide(), "pyll", "pyll-rate")
    assert line["met"] is True
    assert line["events"] == refs(agreed, correction)


# --------------------------------------------------------------------------- gates


def test_the_quality_gate_is_open_without_flags() -> None:
    doc = FactsBuilder().decided_year().decide()
    quality = gate(doc, "quality-failure")
    assert quality["open"] is True
    assert quality["events"] == []


def test_an_active_quality_failure_closes_the_gate_and_pays_nothing() -> None:
    facts = FactsBuilder().decided_year(449953)
    flagged = facts.flag("cqc-1")
    doc = facts.decide()
    quality = gate(doc, "quality-failure")
    assert quality["open"] is False
    assert quality["active_flags"] == ["cqc-1"]
    assert quality["events"] == refs(flagged)
    assert doc["payable_pence"] == 0
    assert doc["earned_pence"] == 224976500  # what was earned is still shown
    assert doc["status"] == "final"  # the gate is decided; the answer is 0


def test_a_rescinded_flag_reopens_the_gate_and_both_events_are_cited() -> None:
    facts = FactsBuilder().decided_year(449953)
    flagged = facts.flag("cqc-1")
    rescinded = facts.rescind("cqc-1")
    doc = facts.decide()
    quality = gate(doc, "quality-failure")
    assert quality["open"] is True
    assert quality["active_flags"] == []
    assert quality["events"] == refs(flagged, rescinded)
    assert doc["payable_pence"] == 224976500


def test_one_active_flag_among_rescinded_ones_keeps_the_gate_closed() -> None:
    facts = FactsBuilder().decided_year()
    facts.flag("a")
    facts.flag("b")
    facts.rescind("a")
    doc = facts.decide()
    assert gate(doc, "quality-failure")["open"] is False
    assert gate(doc, "quality-failure")["active_flags"] == ["b"]
    assert doc["payable_pence"] == 0


def test_an_overspend_closes_the_financial_gate_and_pays_nothing() -> None:
    facts = FactsBuilder().decided_year(449953)
    declared = facts.financial("overspend", 1_250_000)
    doc = facts.decide()
    financial = gate(doc, "financial-balance")
    assert financial["open"] is False
    assert financial["outturn"] == "overspend"
    assert financial["amount_pence"] == 1_250_000
    assert financial["events"] == refs(declared)
    assert doc["payable_pence"] == 0
    assert doc["status"] == "final"


def test_a_balanced_declaration_opens_the_financial_gate() -> None:
    facts = FactsBuilder()
    declared = facts.financial("balanced")
    financial = gate(facts.decide(), "financial-balance")
    assert financial["open"] is True
    assert financial["events"] == refs(declared)


def test_no_financial_declaration_leaves_the_gate_undecided_but_open_for_payment() -> None:
    facts = FactsBuilder()
    facts.population(449953)
    facts.meet(*ALL_2013_MEASURES)
    facts.meet_standards(*STANDARDS)
    doc = facts.decide()
    financial = gate(doc, "financial-balance")
    assert financial["open"] is None
    assert financial["events"] == []
    assert doc["status"] == "provisional"
    assert doc["payable_pence"] == 224976500  # an undecided gate counts as open


def test_a_later_balanced_declaration_replaces_an_overspend() -> None:
    facts = FactsBuilder().decided_year(1000)
    facts.financial("overspend", 10)
    facts.financial("balanced")
    assert facts.decide()["payable_pence"] == 500 * 1000


# --------------------------------------------------------------------------- constitution


@pytest.mark.parametrize("missed", [0, 1, 2, 3, 4])
def test_each_missed_standard_takes_a_quarter_off(missed: int) -> None:
    facts = FactsBuilder()
    facts.population(449953)
    facts.meet(*ALL_2013_MEASURES)
    facts.financial()
    facts.miss_standards(*STANDARDS[:missed])
    facts.meet_standards(*STANDARDS[missed:])
    doc = facts.decide()
    # 224976500 x (1 - missed/4): 224976500, 168732375, 112488250, 56244125, 0
    assert doc["payable_pence"] == [224976500, 168732375, 112488250, 56244125, 0][missed]
    assert doc["payable_pence"] == expected_pence(449953, ["1"], missed)
    assert doc["earned_pence"] == 224976500
    reductions = [deduction(doc, s)["reduction"] for s in STANDARDS]
    assert reductions == ["0.25"] * missed + ["0"] * (4 - missed)
    assert [deduction(doc, s)["met"] for s in STANDARDS] == [False] * missed + [True] * (4 - missed)
    assert doc["status"] == "final"


@pytest.mark.parametrize(
    ("standard", "threshold"),
    [
        ("rtt-18-weeks", "0.92"),
        ("ae-4-hours", "0.95"),
        ("cancer-2-week-wait", "0.93"),
        ("ambulance-cat-a-8-min", "0.75"),
    ],
)
def test_a_standard_is_met_at_its_threshold_and_missed_just_below(
    standard: str, threshold: str
) -> None:
    facts = FactsBuilder()
    facts.population(8)
    facts.meet("avoidable-emergency-admissions")
    event = facts.standard(standard, threshold)
    doc = facts.decide()
    line = deduction(doc, standard)
    assert line["met"] is True
    assert line["reduction"] == "0"
    assert line["events"] == refs(event)
    assert D(str(line["threshold"])) == D(threshold)
    assert doc["payable_pence"] == 500 * 8 // 4

    facts.standard(standard, D(threshold) - D("0.0001"))
    doc = facts.decide()
    assert deduction(doc, standard)["met"] is False
    assert deduction(doc, standard)["reduction"] == "0.25"
    assert doc["payable_pence"] == 750  # 4000 x 0.25 x 0.75


def test_an_undecided_standard_takes_nothing_off() -> None:
    facts = FactsBuilder()
    facts.population(449953)
    facts.meet(*ALL_2013_MEASURES)
    facts.financial()
    facts.meet_standards(*STANDARDS[1:])
    facts.standard(STANDARDS[0], "0.1", period="2013-14-Q2")  # quarterly figure: not decisive
    doc = facts.decide()
    line = deduction(doc, STANDARDS[0])
    assert line["met"] is None
    assert line["reduction"] == "0"
    assert line["events"] == []
    assert doc["payable_pence"] == 224976500
    assert doc["status"] == "provisional"


# --------------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("scheme", "population", "met", "missed", "expected", "why"),
    [
        (QP13, 1, ["pyll"], 0, 63, "500 x 0.125 = 62.5 rounds up, not to even (62)"),
        (QP13, 449953, ["pyll"], 0, 28122063, "28122062.5 rounds up"),
        (
            QP13,
            1,
            ["pyll", "friends-and-family", "hcai"],
            0,
            188,
            "187.5 once, not 3 x round(62.5) = 189",
        ),
        (QP13, 1, ["pyll"], 2, 31, "62.5 x 0.5 = 31.25, not round(62.5) x 0.5 = 31.5 -> 32"),
        (QP13, 12, ["pyll"], 1, 563, "6000 x 0.125 x 0.75 = 562.5"),
        (QP13, 3, ["local-1"], 3, 47, "1500 x 0.125 x 0.25 = 46.875"),
        (QP14, 3, ["pyll"], 2, 113, "1500 x 0.15 x 0.5 = 112.5 (even would be 112)"),
        (QP14, 1, ["pyll", "local-1"], 1, 113, "500 x 0.3 x 0.75 = 112.5"),
    ],
)
def test_money_is_rounded_half_up_once_at_the_end(
    scheme: Scheme, population: int, met: list[str], missed: int, expected: int, why: str
) -> None:
    facts = FactsBuilder(scheme)
    facts.population(population)
    facts.meet(*met)
    facts.miss_standards(*[s.id for s in scheme.standards][:missed])
    doc = facts.decide()
    shares = [str(m.share) for m in scheme.measures if m.id in met]
    assert expected == expected_pence(population, shares, missed), why
    assert doc["payable_pence"] == expected, why
    assert isinstance(doc["payable_pence"], int)


# --------------------------------------------------------------------------- status


def _drop_population(b: FactsBuilder) -> None:
    b.population_fact = None


def _drop_value(key: str) -> Callable[[FactsBuilder], None]:
    return lambda b: b.values.pop(key) and None


def _drop_threshold(key: str) -> Callable[[FactsBuilder], None]:
    return lambda b: b.thresholds.pop(key) and None


def _drop_local(slot: str) -> Callable[[FactsBuilder], None]:
    return lambda b: b.local.pop(slot) and None


def _drop_financial(b: FactsBuilder) -> None:
    b.financial_fact = None


def _drop_standard(key: str) -> Callable[[FactsBuilder], None]:
    return lambda b: b.standards.pop(key) and None


@pytest.mark.parametrize(
    "undecide",
    [
        pytest.param(_drop_population, id="population"),
        pytest.param(_drop_value("pyll/pyll-rate/2013-14"), id="pyll-value"),
        pytest.param(_drop_threshold("pyll/pyll-rate"), id="pyll-threshold"),
        pytest.param(_drop_value("hcai/mrsa-cases/2013-14"), id="mrsa-value"),
        pytest.param(_drop_value("friends-and-family/rollout/2013-14"), id="rollout-value"),
        pytest.param(_drop_local("local-3"), id="local-selection"),
        pytest.param(_drop_financial, id="financial-declaration"),
        pytest.param(_drop_standard("ambulance-cat-a-8-min/2013-14"), id="standard"),
    ],
)
def test_status_is_final_only_when_everything_is_decided(
    undecide: Callable[[FactsBuilder], None],
) -> None:
    facts = FactsBuilder().decided_year()
    assert facts.decide()["status"] == "final"
    undecide(facts)
    assert facts.decide()["status"] == "provisional"


def test_decided_failures_still_give_a_final_decision() -> None:
    facts = FactsBuilder()
    facts.population(449953)
    facts.meet("pyll", "local-1", "local-2", "local-3")
    facts.miss("avoidable-emergency-admissions", "friends-and-family", "hcai")
    facts.miss_standards(*STANDARDS[:2])
    facts.meet_standards(*STANDARDS[2:])
    facts.financial()
    doc = facts.decide()
    assert doc["status"] == "final"
    assert [c["met"] for c in doc["components"]] == [True, False, False, False, True, True, True]
    assert doc["payable_pence"] == expected_pence(449953, ["0.5"], 2) == 56244125


def test_qp_2014_15_decides_with_its_own_measures() -> None:
    facts = FactsBuilder(QP14).decided_year(449953)
    facts.miss("friends-and-family", "local-1")
    facts.miss_standards("ae-4-hours")
    doc = facts.decide()
    assert [c["measure"] for c in doc["components"]] == [
        "pyll",
        "iapt-access",
        "avoidable-emergency-admissions",
        "friends-and-family",
        "medication-safety",
        "local-1",
    ]
    assert [c["share"] for c in doc["components"]] == [
        "0.15",
        "0.15",
        "0.25",
        "0.15",
        "0.15",
        "0.15",
    ]
    # met: 0.15 + 0.15 + 0.25 + 0.15 = 0.7; 224976500 x 0.7 x 0.75 = 118112662.5
    assert doc["payable_pence"] == 118112663 == expected_pence(449953, ["0.7"], 1)
    assert doc["status"] == "final"


# --------------------------------------------------------------------------- events


def test_every_line_names_the_events_that_decided_it() -> None:
    facts = FactsBuilder()
    population = facts.population(449953)
    rollout = facts.value("friends-and-family", "rollout", 1)
    agreed = facts.threshold("friends-and-family", "experience-score", 80)
    submitted = facts.value("friends-and-family", "experience-score", 85)
    standard = facts.standard("ae-4-hours", "0.94")
    declared = facts.financial("balanced")
    doc = facts.decide()
    assert doc["population_events"] == refs(population)
    assert criterion_line(doc, "friends-and-family", "rollout")["events"] == refs(rollout)
    assert criterion_line(doc, "friends-and-family", "experience-score")["events"] == refs(
        agreed, submitted
    )
    assert deduction(doc, "ae-4-hours")["events"] == refs(standard)
    assert deduction(doc, "rtt-18-weeks")["events"] == []
    assert gate(doc, "financial-balance")["events"] == refs(declared)
    assert criterion_line(doc, "pyll", "pyll-rate")["events"] == []
    for event in refs(population, rollout, agreed, submitted, standard, declared):
        assert isinstance(event["id"], str) and isinstance(event["position"], int)


def test_events_are_listed_in_log_order() -> None:
    facts = FactsBuilder()
    submitted = facts.value("pyll", "pyll-rate", 1)
    agreed = facts.threshold("pyll", "pyll-rate", 2)  # agreed after the value was sent
    events = criterion_line(facts.decide(), "pyll", "pyll-rate")["events"]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert [e["id"] for e in events] == [submitted.id, agreed.id]


# --------------------------------------------------------------------------- the digest


def test_the_inputs_digest_is_a_sha256() -> None:
    digest = FactsBuilder().decided_year().decide()["inputs_digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)


def test_the_digest_does_not_depend_on_when_the_facts_were_replayed() -> None:
    facts = FactsBuilder().decided_year()
    early = decide(QP13, facts.build(position=5000, as_of="2014-06-01T00:00:00+00:00"))
    late = decide(QP13, facts.build(position=9999, as_of="2015-01-01T00:00:00+00:00"))
    assert early.inputs_digest == late.inputs_digest
    assert early.document["position"] == 5000
    assert late.document["position"] == 9999
    assert early.document["as_of"] == "2014-06-01T00:00:00+00:00"
    assert late.document["as_of"] == "2015-01-01T00:00:00+00:00"
    rest = {k: v for k, v in early.document.items() if k not in ("position", "as_of")}
    assert rest == {k: v for k, v in late.document.items() if k not in ("position", "as_of")}


def _replace_ref(event: EventRef, **changes: Any) -> EventRef:
    return dataclasses.replace(event, **changes)


FACT_CHANGES: list[Any] = [
    pytest.param(lambda b: b.population(449954), id="population"),
    pytest.param(
        lambda b: setattr(
            b,
            "population_fact",
            dataclasses.replace(b.population_fact, source="GP list"),
        ),
        id="population-source",
    ),
    pytest.param(lambda b: b.threshold("pyll", "pyll-rate", 11), id="threshold-target"),
    pytest.param(lambda b: b.threshold("pyll", "pyll-rate", 10, 99), id="threshold-baseline"),
    pytest.param(lambda b: b.value("pyll", "pyll-rate", "9.5"), id="value"),
    pytest.param(lambda b: b.value("pyll", "pyll-rate", 1, "2013-14-Q1"), id="quarterly-value"),
    pytest.param(lambda b: b.standard("ae-4-hours", "0.96"), id="standard"),
    pytest.param(lambda b: b.flag("cqc-9"), id="flag"),
    pytest.param(lambda b: (b.flag("cqc-9"), b.rescind("cqc-9")), id="rescinded-flag"),
    pytest.param(lambda b: b.financial("overspend", 5), id="financial"),
    pytest.param(lambda b: b.financial("balanced", 0), id="financial-event"),
    pytest.param(lambda b: b.select("local-1", "local-1-rate", "higher"), id="local-direction"),
    pytest.param(
        lambda b: b.values.update(
            {
                k: dataclasses.replace(v, event=_replace_ref(v.event, id="evt-other"))
                for k, v in list(b.values.items())[:1]
            }
        ),
        id="event-id",
    ),
]


@pytest.mark.parametrize("change", FACT_CHANGES)
def test_the_digest_changes_when_any_fact_changes(change: Callable[[FactsBuilder], Any]) -> None:
    facts = FactsBuilder().decided_year()
    before = decide(QP13, facts.build(position=1, as_of="t")).inputs_digest
    change(facts)
    after = decide(QP13, facts.build(position=1, as_of="t")).inputs_digest
    assert after != before


def test_the_digest_depends_on_the_ccg() -> None:
    a = FactsBuilder(ccg="06F").decided_year()
    b = FactsBuilder(ccg="00C").decided_year()
    assert decide(QP13, a.build()).inputs_digest != decide(QP13, b.build()).inputs_digest


def test_decide_is_deterministic() -> None:
    facts = FactsBuilder().decided_year()
    facts.miss_standards("ae-4-hours")
    facts.flag("x")
    first = decide(QP13, facts.build())
    second = decide(QP13, facts.build())
    assert first.document == second.document
    assert json.dumps(first.document, sort_keys=True) == json.dumps(second.document, sort_keys=True)


def test_facts_for_another_scheme_are_refused() -> None:
    facts = FactsBuilder(QP14).decided_year().build()
    with pytest.raises(ValueError, match="qp-2014-15"):
        decide(QP13, facts)


# --------------------------------------------------------------------------- the document


def test_the_document_has_every_field_the_contract_requires() -> None:
    facts = FactsBuilder().decided_year()
    facts.miss_standards("ae-4-hours")
    decision = decide(QP13, facts.build(position=1234, as_of="2014-06-30T12:00:00+00:00"))
    doc = decision.document
    required = {
        "ccg", "scheme", "as_of", "position", "status", "population", "maximum_pence",
        "gates", "components", "deductions", "earned_pence", "payable_pence",
        "engine_version", "inputs_digest",
    }  # fmt: skip
    assert required <= set(doc)
    assert (doc["ccg"], doc["scheme"], doc["position"]) == ("06F", "qp-2013-14", 1234)
    assert doc["as_of"] == "2014-06-30T12:00:00+00:00"
    assert doc["status"] in ("final", "provisional")
    assert doc["engine_version"] == ENGINE_VERSION and ENGINE_VERSION
    assert [g["gate"] for g in doc["gates"]] == ["quality-failure", "financial-balance"]
    for g in doc["gates"]:
        assert {"gate", "open", "events"} <= set(g)
    assert [c["measure"] for c in doc["components"]] == ALL_2013_MEASURES
    for c in doc["components"]:
        assert {"measure", "share", "met", "earned_pence", "criteria"} <= set(c)
        assert isinstance(c["share"], str)
        for line in c["criteria"]:
            assert {"criterion", "value", "target", "met", "events"} <= set(line)
    assert component(doc, "pyll")["share"] == "0.125"
    assert component(doc, "avoidable-emergency-admissions")["share"] == "0.25"
    assert [d["standard"] for d in doc["deductions"]] == STANDARDS
    for d in doc["deductions"]:
        assert {"standard", "met", "reduction", "events"} <= set(d)
        assert isinstance(d["reduction"], str)
    assert deduction(doc, "ae-4-hours")["reduction"] == "0.25"
    # the typed accessors agree with the document
    assert decision.payable_pence == doc["payable_pence"]
    assert decision.status == doc["status"]
    assert decision.inputs_digest == doc["inputs_digest"]


def test_the_document_is_json_and_round_trips() -> None:
    facts = FactsBuilder().decided_year()
    facts.value("pyll", "pyll-rate", "0.1")
    facts.flag("f")
    facts.rescind("f")
    doc = facts.decide()
    text = json.dumps(doc)
    assert json.loads(text) == doc


def test_an_extreme_value_is_refused_before_it_reaches_the_engine() -> None:
    # 1E+5000 would render as a 5001-digit number no JSON reader takes.
    with pytest.raises(InvalidCommand, match="is too large"):
        parse_command(
            loads_line(
                '{"type": "measure_submitted", "ccg": "06F", "scheme": "qp-2013-14", '
                '"measure": "pyll", "criterion": "pyll-rate", "period": "2013-14", '
                '"value": 1E+5000}'
            )
        )


def test_a_huge_accepted_population_is_computed_exactly() -> None:
    population = 10**30 + 1
    facts = FactsBuilder()
    facts.population(population)
    facts.meet("pyll")
    doc = facts.decide()
    assert doc["payable_pence"] == expected_pence(population, ["0.125"])
