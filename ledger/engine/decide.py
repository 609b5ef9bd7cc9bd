"""The decision engine: ``decide(scheme, facts) -> Decision``.

A pure function of the scheme and the facts known at one log position: no
clock, no I/O, no globals. That is what makes an auditor's replay of a past
decision reproducible bit for bit, and what lets the digest of its inputs
prove which facts it used.

The rules are those of docs/contract.md ("Scheme", "Decisions"):

* a criterion's value is submitted, or (``"value": {"from": "cases"}`` in the
  scheme) the number of the organism's cases specimen-dated in the scheme
  year and assigned to the CCG at the decision's point; the line then lists
  those cases and names their events (docs/decision-rules.md);
* a criterion is met when both its value (for the assessment period) and its
  target (fixed by the scheme, or agreed with the area team) are known, and
  the value is ``<=`` (lower) or ``>=`` (higher) the target;
* a measure is met when all its criteria are met, pending (``None``) when any
  is unknown, otherwise not met;
* payable = round_half_up(maximum x sum of met shares x
  max(0, 1 - reduction x standards not met)), or 0 if a gate is closed;
* the provisional figure earns only on evidence of improvement and loses only
  on evidence of failure: an undecided measure counts as not met, an
  undecided standard takes nothing off, an undecided financial gate is open.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from ledger.domain.errors import UnknownEngine
from ledger.domain.facts import EventRef, Facts, ValueFact
from ledger.domain.scheme import Criterion, Measure, Scheme

#: Bump when a change to this module could alter any past decision.
ENGINE_VERSION = "qp-engine/1.0"


@dataclass(frozen=True)
class Decision:
    """A computed decision: the contract's JSON document plus typed accessors."""

    document: dict[str, Any]

    @property
    def payable_pence(self) -> int:
        return int(self.document["payable_pence"])

    @property
    def status(self) -> str:
        return str(self.document["status"])

    @property
    def inputs_digest(self) -> str:
        return str(self.document["inputs_digest"])


def round_half_up(amount: Decimal) -> int:
    """Money is rounded once, at the end, half up (the scheme's rule)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def plain_decimal(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 1, 0.75, 0.375."""
    text = format(value.normalize(), "f")
    return text


def number(value: Decimal | None) -> int | float | None:
    """Render a decimal as a JSON number: exact for integers, shortest repr otherwise."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _events(*refs: EventRef | None) -> list[dict[str, Any]]:
    unique = {r.id: r for r in refs if r is not None}
    return [r.to_dict() for r in sorted(unique.values(), key=lambda r: r.position)]


def _compare(value: Decimal | None, target: Decimal | None, direction: str) -> bool | None:
    if value is None or target is None:
        return None
    return value <= target if direction == "lower" else value >= target


def _case_line(facts: Facts, scheme: Scheme, criterion: Criterion) -> dict[str, Any]:
    """A count derived from the cases: the ones in the year assigned to the CCG now count.

    Zero tolerance (2013/14 guidance): one MRSA case assigned to the CCG by its
    post-infection review fails the criterion. Cases once assigned and since
    moved away are listed as not counted, with the events that moved them,
    so a replay across a reassignment shows why the share came back.
    """
    first, last = scheme.year_dates
    listed = [
        c
        for c in facts.cases
        if c.organism == criterion.derived_from_cases and first <= c.specimen_date <= last
    ]
    counted = [c for c in listed if c.active]
    value = Decimal(len(counted))
    target = criterion.fixed_target
    return {
        "criterion": criterion.id,
        "direction": criterion.direction,
        "period": scheme.assessment_period,
        "value": number(value),
        "value_source": "cases",
        "target": number(target),
        "target_source": "fixed" if target is not None else "agreed",
        "baseline": None,
        "met": _compare(value, target, criterion.direction),
        "cases": [
            {
                "case_id": c.case_id,
                "organism": c.organism,
                "specimen_date": c.specimen_date,
                "trust": c.trust,
                "responsible_ccg": c.responsible_ccg,
                "assigned_by": c.assigned_by,
                "pir_reference": c.pir_reference,
                "counted": c.active,
                "now_assigned_to": None if c.active else c.now,
                "now_assigned_by": None if c.active else c.now_assigned_by,
                "now_pir_reference": None if c.active else c.now_pir_reference,
                "case_event": c.case_event,
                "events": _events(*c.events),
            }
            for c in listed
        ],
        "events": _events(*(e for c in listed for e in c.events)),
    }


def _criterion_line(
    facts: Facts, scheme: Scheme, measure_id: str, criterion: Criterion
) -> dict[str, Any]:
    if criterion.derived_from_cases is not None:
        return _case_line(facts, scheme, criterion)
    key = f"{measure_id}/{criterion.id}"
    submitted = facts.values.get(f"{key}/{scheme.assessment_period}")
    threshold = facts.thresholds.get(key)
    target = (
        criterion.fixed_target
        if criterion.fixed_target is not None
        else (threshold.target if threshold else None)
    )
    value = submitted.value if submitted else None
    return {
        "criterion": criterion.id,
        "direction": criterion.direction,
        "period": scheme.assessment_period,
        "value": number(value),
        "target": number(target),
        "target_source": "fixed" if criterion.fixed_target is not None else "agreed",
        "baseline": number(threshold.baseline) if threshold else None,
        "met": _compare(value, target, criterion.direction),
        "events": _events(
            submitted.event if submitted else None, threshold.event if threshold else None
        ),
    }


def _measure_criteria(facts: Facts, measure: Measure) -> tuple[tuple[Criterion, ...], list[Any]]:
    """The criteria that apply to a measure, and the events that named them."""
    if not measure.local:
        return measure.criteria, []
    selected = facts.local_measures.get(measure.id)
    if selected is None:
        return (), []
    chosen = Criterion(id=selected.criterion, direction=selected.direction, fixed_target=None)  # type: ignore[arg-type]
    return (chosen,), [selected.event]


def _component(facts: Facts, scheme: Scheme, measure: Measure, maximum: int) -> dict[str, Any]:
    criteria, naming_events = _measure_criteria(facts, measure)
    lines = [_criterion_line(facts, scheme, measure.id, c) for c in criteria]
    met: bool | None
    if not lines or any(line["met"] is None for line in lines):
        met = None
    else:
        met = all(line["met"] for line in lines)
    component: dict[str, Any] = {
        "measure": measure.id,
        "name": measure.name,
        "share": str(measure.share),
        "met": met,
        "earned_pence": round_half_up(maximum * measure.share) if met else 0,
        "criteria": lines,
    }
    if measure.local:
        selected = facts.local_measures.get(measure.id)
        component["local_name"] = selected.name if selected else None
        component["events"] = _events(*naming_events)
    return component


def _quality_gate(facts: Facts) -> dict[str, Any]:
    active = sorted(f.flag_id for f in facts.flags.values() if f.active)
    refs = [e for f in facts.flags.values() for e in f.events]
    return {
        "gate": "quality-failure",
        "open": not active,
        "active_flags": active,
        "events": _events(*refs),
    }


def _financial_gate(facts: Facts) -> dict[str, Any]:
    declared = facts.financial
    return {
        "gate": "financial-balance",
        "open": None if declared is None else declared.outturn == "balanced",
        "outturn": declared.outturn if declared else None,
        "amount_pence": declared.amount_pence if declared else None,
        "events": _events(declared.event if declared else None),
    }


def _deduction(facts: Facts, scheme: Scheme, standard_id: str) -> dict[str, Any]:
    standard = scheme.standard(standard_id)
    assert standard is not None
    submitted: ValueFact | None = facts.standards.get(f"{standard_id}/{scheme.assessment_period}")
    value = submitted.value if submitted else None
    met = _compare(value, standard.threshold, standard.direction)
    return {
        "standard": standard.id,
        "period": scheme.assessment_period,
        "value": number(value),
        "threshold": number(standard.threshold),
        "met": met,
        "reduction": str(scheme.reduction_per_standard) if met is False else "0",
        "events": _events(submitted.event if submitted else None),
    }


def inputs_digest(scheme: Scheme, facts: Facts) -> str:
    """SHA-256 over the canonical JSON of the scheme digest and the facts."""
    canonical = json.dumps(
        {"scheme": scheme.digest, "facts": facts.canonical()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def decide(scheme: Scheme, facts: Facts) -> Decision:
    """Compute the premium decision for one CCG from the facts known at one position."""
    # Money is exact: enough precision that nothing is rounded before the one
    # final half-up rounding, whatever the population or shares.
    with localcontext() as context:
        context.prec = 60
        return _decide(scheme, facts)


def _decide(scheme: Scheme, facts: Facts) -> Decision:
    if facts.scheme != scheme.id:
        raise ValueError(f"facts are for scheme {facts.scheme!r}, not {scheme.id!r}")
    population = facts.population.population if facts.population else None
    maximum = scheme.pence_per_head * population if population is not None else 0

    components = [_component(facts, scheme, m, maximum) for m in scheme.measures]
    gates = [_quality_gate(facts), _financial_gate(facts)]
    deductions = [_deduction(facts, scheme, s.id) for s in scheme.standards]

    met_share = sum((Decimal(c["share"]) for c in components if c["met"]), Decimal(0))
    not_met = sum(1 for d in deductions if d["met"] is False)
    factor = max(Decimal(0), Decimal(1) - scheme.reduction_per_standard * not_met)
    earned = round_half_up(maximum * met_share)
    gates_closed = any(g["open"] is False for g in gates)
    payable = 0 if gates_closed else round_half_up(maximum * met_share * factor)

    decided = (
        population is not None
        and all(c["met"] is not None for c in components)
        and all(g["open"] is not None for g in gates)
        and all(d["met"] is not None for d in deductions)
    )
    document: dict[str, Any] = {
        "ccg": facts.ccg,
        "scheme": scheme.id,
        "as_of": facts.as_of,
        "position": facts.position,
        "status": "final" if decided else "provisional",
        "population": population,
        "population_events": _events(facts.population.event if facts.population else None),
        "maximum_pence": maximum,
        "gates": gates,
        "components": components,
        "deductions": deductions,
        "met_share": plain_decimal(met_share),
        "deduction_factor": plain_decimal(factor),
        "earned_pence": earned,
        "payable_pence": payable,
        "engine_version": ENGINE_VERSION,
        "inputs_digest": inputs_digest(scheme, facts),
    }
    return Decision(document)


#: Every engine version a past decision may name. When the rules change in a way
#: that alters past results, the old function stays here under its version so an
#: issued decision can still be reproduced by the engine that made it.
ENGINES = {ENGINE_VERSION: decide}


def decide_with_engine(version: str, scheme: Scheme, facts: Facts) -> Decision:
    try:
        engine = ENGINES[version]
    except KeyError:
        raise UnknownEngine(
            f"engine_version: {version!r} is not available",
            field="engine_version",
            allowed=sorted(ENGINES),
        ) from None
    return engine(scheme, facts)
