"""``projections check``: every read model row against a fresh replay of the log.

For each read model, the stored rows and tracked position are read in one
snapshot. The log is then replayed from the start with a fresh
``DecisionFolder`` up to that position, and the rows are recomputed *from
scratch* -- group totals summed afresh, not by the incremental deltas the
projector applies -- so a doubly-applied or skipped event shows up as a
wrong total or a wrong ``events_applied``. Each current decision document is
also compared with the engine's decision on ``QPLedger.facts(ccg, scheme,
position=P)`` -- the ledger's own replay path, independent of the fold -- so
the fold itself is checked too.

The first difference is reported with the table, the row's key, the column
and both values; the CLI exits non-zero with that line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Tracking
from sqlalchemy import Table, select

from ledger.domain.scheme import get_scheme
from ledger.engine.decide import decide
from ledger.projections.database import ReadModelDatabase
from ledger.projections.decisions import canonical_json, changed, timeline_row
from ledger.projections.folding import DecisionFolder
from ledger.projections.projection import EventInfo
from ledger.projections.registry import ReadModel, selected
from ledger.projections.source import RECORD_TOPICS
from ledger.service.application import QPLedger

Key = tuple[str, str]


@dataclass(frozen=True)
class Difference:
    projection: str
    table: str
    key: dict[str, Any]
    column: str | None
    stored: Any
    expected: Any
    position: int
    message: str | None = None

    def __str__(self) -> str:
        if self.message is not None:
            return f"{self.projection}: {self.message}"
        where = ", ".join(f"{k}={v}" for k, v in self.key.items())
        row = f"{self.projection}: {self.table}[{where}]"
        replay = f"a fresh replay of the log to position {self.position}"
        if self.column is None:
            if self.stored is None:
                return f"{row} is missing from the read model ({replay} has it)"
            return f"{row} is in the read model but not in {replay}"
        return (
            f"{row} {self.column}: the read model has {self.stored!r}, "
            f"{replay} gives {self.expected!r}"
        )


@dataclass
class CheckReport:
    positions: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    difference: Difference | None = None
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return self.difference is None

    def summary(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "positions": self.positions,
            "rows": self.rows,
            "difference": None if self.difference is None else str(self.difference),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ReplayState:
    """Everything the read models are computed from, as of one log position."""

    latest: dict[Key, dict[str, Any]]
    counts: dict[Key, int]
    timeline: list[dict[str, Any]]
    events: int


def replay(ledger: QPLedger, targets: Sequence[int], page: int = 1000) -> dict[int, ReplayState]:
    """Fold the log from the start, freezing the state at each target position."""
    folder = DecisionFolder(ledger)
    latest: dict[Key, dict[str, Any]] = {}
    counts: dict[Key, int] = {}
    before: dict[Key, tuple[str, int]] = {}
    timeline: list[dict[str, Any]] = []
    events = 0
    pending = sorted(set(targets))
    out: dict[int, ReplayState] = {}

    def freeze(upto: int) -> None:
        while pending and pending[0] < upto:
            out[pending.pop(0)] = ReplayState(dict(latest), dict(counts), list(timeline), events)

    position, stop = 0, max(pending, default=0)
    while pending and position < stop:
        notifications = ledger.recorder.select_notifications(
            start=position, limit=page, stop=stop, topics=RECORD_TOPICS, inclusive_of_start=False
        )
        if not notifications:
            break
        folder.prepare(n.id for n in notifications)
        for n in notifications:
            freeze(n.id)
            event = ledger.mapper.to_domain_event(n)
            document = folder.decision_after(event, n.id).document  # type: ignore[arg-type]
            key = (document["scheme"], document["ccg"])
            info = EventInfo.of(event, Tracking(ledger.name, n.id), key)  # type: ignore[arg-type]
            if changed(document, before.get(key)):
                timeline.append(timeline_row(document, info, before.get(key)))
            before[key] = (document["status"], document["payable_pence"])
            latest[key] = document
            counts[key] = counts.get(key, 0) + 1
            events += 1
        position = notifications[-1].id
    freeze(stop + 1)
    return out


def check(
    ledger: QPLedger,
    db: ReadModelDatabase,
    names: Iterable[str] | None = None,
    *,
    documents: bool = True,
) -> CheckReport:
    """Compare the named read models (default: all) with a fresh replay; stop at a difference."""
    started = time.perf_counter()
    report = CheckReport()
    specs = selected(list(names or ()))
    stored: dict[str, tuple[int, int, int, dict[str, list[dict[str, Any]]]]] = {}
    for spec in specs:
        found = _read_stored(db, spec)
        if isinstance(found, Difference):
            report.difference = found
            report.seconds = time.perf_counter() - started
            return report
        stored[spec.name] = found
        report.positions[spec.name] = found[1]
        report.rows[spec.name] = sum(len(rows) for rows in found[3].values())
    states = replay(ledger, [s[1] for s in stored.values()])
    for spec in specs:
        generation, position, applied, rows = stored[spec.name]
        state = states.get(position) or ReplayState({}, {}, [], 0)
        tables = db.tables(spec.name, generation, spec.define_tables)
        if applied != state.events:
            report.difference = Difference(
                spec.name, db.tracking.name, {"projection": spec.name, "generation": generation},
                "events_applied", applied, state.events, position,
            )  # fmt: skip
            break
        expected = spec.expected_rows(state.latest, state.counts, state.timeline)
        if documents and spec.name == "decisions":
            for row in expected["current"]:
                # The ledger's own replay path (facts from the repository), not the fold.
                facts = ledger.facts(row["ccg"], row["scheme"], position=row["position"])
                fresh = decide(get_scheme(row["scheme"]), facts)
                row["document"] = canonical_json(fresh.document)
        for table_key, table in tables.items():
            difference = compare(spec.name, table, rows[table_key], expected[table_key], position)
            if difference is not None:
                report.difference = difference
                break
        if report.difference is not None:
            break
    report.seconds = time.perf_counter() - started
    return report


def _read_stored(
    db: ReadModelDatabase, spec: ReadModel
) -> tuple[int, int, int, dict[str, list[dict[str, Any]]]] | Difference:
    missing = Difference(
        spec.name, "qpproj_catalog", {"projection": spec.name}, None, None, None, 0,
        "not built yet: run `qp-ledger project` or `qp-ledger projections rebuild`",
    )  # fmt: skip
    if not db.has_catalog():
        return missing
    t = db.tracking
    with db.read() as conn:
        generation = db.active_generation(conn, spec.name)
        if generation is None:
            return missing
        position, applied = conn.execute(
            select(t.c.notification_id, t.c.events_applied).where(
                t.c.projection == spec.name, t.c.generation == generation
            )
        ).one()
        tables = db.tables(spec.name, generation, spec.define_tables)
        rows = {
            key: [dict(r) for r in conn.execute(select(table)).mappings()]
            for key, table in tables.items()
        }
    return generation, int(position), int(applied), rows


def compare(
    projection: str,
    table: Table,
    stored: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    position: int,
) -> Difference | None:
    """The first difference between two sets of rows, in primary-key order."""
    pk = [c.name for c in table.primary_key.columns]
    by_stored = {tuple(r[k] for k in pk): r for r in stored}
    by_expected = {tuple(r[k] for k in pk): r for r in expected}
    for key in sorted(set(by_stored) | set(by_expected)):
        named = dict(zip(pk, key, strict=True))
        if key not in by_stored:
            return Difference(projection, table.name, named, None, None, True, position)
        if key not in by_expected:
            return Difference(projection, table.name, named, None, True, None, position)
        a, b = by_stored[key], by_expected[key]
        for column in table.columns:
            if column.name in pk or a.get(column.name) == b.get(column.name):
                continue
            if column.name == "document":
                path, ours, theirs = first_json_difference(
                    json.loads(a["document"]), json.loads(b["document"])
                )
                return Difference(
                    projection, table.name, named, f"document{path}", ours, theirs, position
                )
            return Difference(
                projection, table.name, named, column.name, a.get(column.name),
                b.get(column.name), position,
            )  # fmt: skip
    return None


def first_json_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any]:
    """Where two JSON values first differ: (``.components[2].met``, one value, the other)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k, ...) != b.get(k, ...):
                return first_json_difference(a.get(k), b.get(k), f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_json_difference(x, y, f"{path}[{i}]")
    return path, a, b
