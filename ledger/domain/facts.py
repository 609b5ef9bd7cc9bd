"""The facts a decision is computed from: the decision engine's input.

These are plain values, already resolved to the event that established each
one (id and log position), so the engine stays a pure function with no
storage, clock or globals, and a replay is reproducible bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class EventRef:
    """Identifies a stored event: its id, its log position and what it was."""

    id: str
    position: int
    type: str
    recorded_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "position": self.position, "type": self.type}


@dataclass(frozen=True)
class PopulationFact:
    population: int
    source: str
    event: EventRef


@dataclass(frozen=True)
class LocalMeasureFact:
    slot: str
    name: str
    criterion: str
    direction: str
    event: EventRef


@dataclass(frozen=True)
class ThresholdFact:
    measure: str
    criterion: str
    baseline: Decimal
    target: Decimal
    event: EventRef


@dataclass(frozen=True)
class ValueFact:
    """A submitted value (measure criterion or constitution standard) for a period."""

    key: str
    period: str
    value: Decimal
    event: EventRef


@dataclass(frozen=True)
class FlagFact:
    flag_id: str
    description: str
    active: bool
    events: tuple[EventRef, ...]


@dataclass(frozen=True)
class CaseFact:
    """An HCAI case assigned to the CCG (``active``), or once assigned and since moved away.

    ``events`` are the events of the CCG's record that attributed the case and
    ended its attribution; ``case_event`` the id of the case's own event
    (its assignment, reassignment or withdrawal) behind the latest of them.
    """

    case_id: str
    organism: str
    specimen_date: str
    trust: str
    responsible_ccg: str
    assigned_by: str
    pir_reference: str
    active: bool
    #: Once not active: the new assignee (or ``withdrawn``), by whom, under which PIR.
    now: str | None
    now_assigned_by: str | None
    now_pir_reference: str | None
    case_event: str
    events: tuple[EventRef, ...]


@dataclass(frozen=True)
class FinancialFact:
    outturn: str
    amount_pence: int
    event: EventRef


@dataclass(frozen=True)
class Facts:
    """Everything known about one CCG in one scheme at one log position.

    ``position`` and ``as_of`` say *when* the facts were known; they are echoed
    in the decision document but are not part of the inputs digest, so the same
    facts always give the same digest whatever moment they are replayed at.
    """

    ccg: str
    scheme: str
    position: int
    as_of: str | None
    population: PopulationFact | None = None
    local_measures: dict[str, LocalMeasureFact] = field(default_factory=dict)
    #: keyed by ``measure/criterion``
    thresholds: dict[str, ThresholdFact] = field(default_factory=dict)
    #: keyed by ``measure/criterion/period``
    values: dict[str, ValueFact] = field(default_factory=dict)
    #: keyed by ``standard/period``
    standards: dict[str, ValueFact] = field(default_factory=dict)
    flags: dict[str, FlagFact] = field(default_factory=dict)
    financial: FinancialFact | None = None
    #: HCAI cases ever assigned to the CCG, in the order first assigned.
    cases: tuple[CaseFact, ...] = ()

    def canonical(self) -> dict[str, Any]:
        """A JSON-able encoding with sorted keys and decimals as strings (for the digest)."""

        def ref(e: EventRef) -> list[Any]:
            return [e.id, e.position, e.type, e.recorded_at]

        out: dict[str, Any] = {
            "ccg": self.ccg,
            "scheme": self.scheme,
            "population": None
            if self.population is None
            else [self.population.population, self.population.source, ref(self.population.event)],
            "local_measures": {
                k: [f.name, f.criterion, f.direction, ref(f.event)]
                for k, f in sorted(self.local_measures.items())
            },
            "thresholds": {
                k: [str(f.baseline), str(f.target), ref(f.event)]
                for k, f in sorted(self.thresholds.items())
            },
            "values": {k: [str(f.value), ref(f.event)] for k, f in sorted(self.values.items())},
            "standards": {
                k: [str(f.value), ref(f.event)] for k, f in sorted(self.standards.items())
            },
            "flags": {
                k: [f.description, f.active, [ref(e) for e in f.events]]
                for k, f in sorted(self.flags.items())
            },
            "financial": None
            if self.financial is None
            else [self.financial.outturn, self.financial.amount_pence, ref(self.financial.event)],
        }
        # Only when there are cases, so every digest from before cases existed stays the same.
        if self.cases:
            out["cases"] = [
                [
                    c.case_id,
                    c.organism,
                    c.specimen_date,
                    c.trust,
                    c.responsible_ccg,
                    c.assigned_by,
                    c.pir_reference,
                    c.active,
                    c.now,
                    c.now_assigned_by,
                    c.now_pir_reference,
                    c.case_event,
                    [ref(e) for e in c.events],
                ]
                for c in self.cases
            ]
        return out
