"""Read model: each CCG's current decision, its components, and its decision timeline.

* ``current``: one row per (scheme, CCG): the decision after the record's
  latest event -- status, money, gates, the full decision document -- equal
  to ``QPLedger.decision(ccg, scheme, position=<that event's position>)``.
  (What the ledger attaches to a document beyond the engine's output -- the
  Merkle log head at its position -- is attached when the document is
  served, not stored: it is a function of the position, and computing it for
  every stored document would halve the rebuild speed.)
* ``components``: one row per measure of that decision (met, earned).
* ``timeline``: one row per event that changed the payable amount or the
  status (final/provisional), with the position and recorded time that
  caused it and what it was before. The record's first event always opens
  the timeline.

``events_applied`` counts the events folded into each row; it must equal the
record's stream version at the tracked position, which is how ``check``
proves no event was applied twice or skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking
from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection

from ledger.domain.ccgs import get_ccg
from ledger.projections.database import BIG, ccg_key
from ledger.projections.projection import EventInfo, HasDocument, ReadModelProjection
from ledger.projections.view import ReadModelView, insert_rows, upsert

Key = tuple[str, str]


def canonical_json(document: dict[str, Any]) -> str:
    """The stored form of a decision document: sorted keys, no spaces (byte-stable)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def current_row(document: dict[str, Any]) -> dict[str, Any]:
    """The ``current`` row of a decision document (without its ``events_applied``)."""
    ccg = get_ccg(document["ccg"])
    gates = {g["gate"]: g["open"] for g in document["gates"]}
    return {
        "scheme": document["scheme"],
        "ccg": document["ccg"],
        "ccg_name": ccg.name if ccg else "",
        "area_team_code": ccg.area_team_code if ccg else "",
        "area_team_name": ccg.area_team_name if ccg else "",
        "region_code": ccg.region_code if ccg else "",
        "region_name": ccg.region_name if ccg else "",
        "status": document["status"],
        "population": document["population"],
        "maximum_pence": document["maximum_pence"],
        "earned_pence": document["earned_pence"],
        "payable_pence": document["payable_pence"],
        "met_share": document["met_share"],
        "deduction_factor": document["deduction_factor"],
        "measures_met": sum(1 for c in document["components"] if c["met"] is True),
        "standards_not_met": sum(1 for d in document["deductions"] if d["met"] is False),
        "quality_gate_open": gates.get("quality-failure"),
        "financial_gate_open": gates.get("financial-balance"),
        "position": document["position"],
        "as_of": document["as_of"],
        "engine_version": document["engine_version"],
        "inputs_digest": document["inputs_digest"],
        "document": canonical_json(document),
    }


def component_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "scheme": document["scheme"],
            "ccg": document["ccg"],
            "measure": c["measure"],
            "ordinal": i,
            "share": c["share"],
            "local_name": c.get("local_name"),
            "met": c["met"],
            "earned_pence": c["earned_pence"],
        }
        for i, c in enumerate(document["components"])
    ]


def timeline_row(
    document: dict[str, Any], event: EventInfo, before: tuple[str, int] | None
) -> dict[str, Any]:
    return {
        "scheme": document["scheme"],
        "ccg": document["ccg"],
        "position": event.position,
        "recorded_at": document["as_of"],
        "event_type": event.type,
        "event_id": event.id,
        "status": document["status"],
        "payable_pence": document["payable_pence"],
        "previous_status": before[0] if before else None,
        "previous_payable_pence": before[1] if before else None,
        "inputs_digest": document["inputs_digest"],
    }


def changed(document: dict[str, Any], before: tuple[str, int] | None) -> bool:
    """Does this decision open or change the timeline (payable or status moved)?"""
    return before is None or before != (document["status"], document["payable_pence"])


def define_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    current = Table(
        prefix + "current",
        metadata,
        *ccg_key(),
        Column("ccg_name", String(200), nullable=False),
        Column("area_team_code", String(16), nullable=False),
        Column("area_team_name", String(200), nullable=False),
        Column("region_code", String(16), nullable=False),
        Column("region_name", String(200), nullable=False),
        Column("status", String(16), nullable=False),
        Column("population", BIG, nullable=True),
        Column("maximum_pence", BIG, nullable=False),
        Column("earned_pence", BIG, nullable=False),
        Column("payable_pence", BIG, nullable=False),
        Column("met_share", String(32), nullable=False),
        Column("deduction_factor", String(32), nullable=False),
        Column("measures_met", Integer, nullable=False),
        Column("standards_not_met", Integer, nullable=False),
        Column("quality_gate_open", Boolean, nullable=True),
        Column("financial_gate_open", Boolean, nullable=True),
        Column("position", BIG, nullable=False),
        Column("as_of", String(32), nullable=True),
        Column("engine_version", String(32), nullable=False),
        Column("inputs_digest", String(80), nullable=False),
        Column("document", Text, nullable=False),
        Column("events_applied", BIG, nullable=False),
        Index(prefix + "current_area", "scheme", "area_team_code"),
        Index(prefix + "current_region", "scheme", "region_code"),
        Index(prefix + "current_status", "scheme", "status"),
        Index(prefix + "current_payable", "scheme", "payable_pence"),
    )
    components = Table(
        prefix + "components",
        metadata,
        *ccg_key(),
        Column("measure", String(64), primary_key=True),
        Column("ordinal", Integer, nullable=False),
        Column("share", String(32), nullable=False),
        Column("local_name", String(200), nullable=True),
        Column("met", Boolean, nullable=True),
        Column("earned_pence", BIG, nullable=False),
    )
    timeline = Table(
        prefix + "timeline",
        metadata,
        *ccg_key(),
        Column("position", BIG, primary_key=True, autoincrement=False),
        Column("recorded_at", String(32), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("event_id", String(36), nullable=False),
        Column("status", String(16), nullable=False),
        Column("payable_pence", BIG, nullable=False),
        Column("previous_status", String(16), nullable=True),
        Column("previous_payable_pence", BIG, nullable=True),
        Column("inputs_digest", String(80), nullable=False),
    )
    return {"current": current, "components": components, "timeline": timeline}


@dataclass(frozen=True)
class DecisionWrite:
    """What one event changes in this read model."""

    document: dict[str, Any]
    event: EventInfo

    @property
    def key(self) -> Key:
        return (self.document["scheme"], self.document["ccg"])


class DecisionsView(ReadModelView):
    """The current decisions, their components and the timeline (SQLAlchemy Core)."""

    name = "decisions"
    define_tables = staticmethod(define_tables)

    def record_decision(self, write: DecisionWrite, tracking: Tracking) -> None:
        self.record(write, tracking)

    def write(self, conn: Connection, writes: Sequence[Any]) -> None:
        current = self.tables["current"]
        keys = list(dict.fromkeys(w.key for w in writes))
        stored = conn.execute(
            select(
                current.c.scheme, current.c.ccg, current.c.status, current.c.payable_pence
            ).where(tuple_(current.c.scheme, current.c.ccg).in_(keys))
        ).all()
        before: dict[Key, tuple[str, int]] = {(s, c): (st, int(p)) for s, c, st, p in stored}
        known = set(before)  # components are written with their decision, so share its keys
        latest: dict[Key, dict[str, Any]] = {}
        counts: dict[Key, int] = {}
        timeline: list[dict[str, Any]] = []
        for w in writes:
            previous = before.get(w.key)
            if changed(w.document, previous):
                timeline.append(timeline_row(w.document, w.event, previous))
            before[w.key] = (w.document["status"], w.document["payable_pence"])
            latest[w.key] = w.document
            counts[w.key] = counts.get(w.key, 0) + 1
        rows = [{**current_row(doc), "events_applied": counts[k]} for k, doc in latest.items()]

        def exists(row: dict[str, Any]) -> bool:
            return (row["scheme"], row["ccg"]) in known

        keys = ["scheme", "ccg"]
        upsert(conn, current, rows, keys, increments=["events_applied"], exists=exists)
        parts = [row for doc in latest.values() for row in component_rows(doc)]
        upsert(conn, self.tables["components"], parts, [*keys, "measure"], exists=exists)
        insert_rows(conn, self.tables["timeline"], timeline)


class DecisionsProjection(ReadModelProjection[DecisionsView]):
    """Keeps every CCG's current decision and its timeline."""

    name = "decisions"
    view_class = DecisionsView

    def show(self, decision: HasDocument, event: EventInfo, tracking: Tracking) -> None:
        self.view.record_decision(DecisionWrite(decision.document, event), tracking)


def expected_rows(
    latest: dict[Key, dict[str, Any]],
    counts: dict[Key, int],
    timeline: list[dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """What the tables must hold, computed from scratch from a replay (for ``check``)."""
    return {
        "current": [{**current_row(d), "events_applied": counts[k]} for k, d in latest.items()],
        "components": [row for d in latest.values() for row in component_rows(d)],
        "timeline": timeline,
    }
