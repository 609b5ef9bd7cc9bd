"""Read model: attainment of each measure and constitution standard across CCGs.

For each scheme, group (England, a region, an area team) and item (a measure
of the scheme, or an NHS Constitution standard): how many CCGs have met it,
not met it, or are still pending (no value or no agreed target yet), and,
for measures, the pence earned by it before gates and deductions.

Maintained like the summaries: ``members`` keeps each CCG's current states
and each new decision adds the difference to its three groups.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select, tuple_
from sqlalchemy.engine import Connection

from ledger.domain.ccgs import get_ccg
from ledger.projections.database import BIG
from ledger.projections.projection import (
    EventInfo,
    HasDocument,
    Pending,
    ReadModelProjection,
    latest_members,
)
from ledger.projections.summaries import groups_of
from ledger.projections.view import ReadModelView, upsert

Key = tuple[str, str]
#: (scheme, level, code, kind, item)
GroupKey = tuple[str, str, str, str, str]
STATES = {True: "met", False: "not_met", None: "pending"}
COUNTERS = ("ccgs", "met", "not_met", "pending", "earned_pence")


def states(document: dict[str, Any]) -> dict[str, list[Any]]:
    """``{"measure:pyll": ["met", earned_pence], "standard:ae-4-hours": ["not_met", 0]}``."""
    out: dict[str, list[Any]] = {}
    for c in document["components"]:
        out[f"measure:{c['measure']}"] = [STATES[c["met"]], int(c["earned_pence"])]
    for d in document["deductions"]:
        out[f"standard:{d['standard']}"] = [STATES[d["met"]], 0]
    return out


def member_row(document: dict[str, Any]) -> dict[str, Any]:
    ccg = get_ccg(document["ccg"])
    assert ccg is not None
    return {
        "scheme": document["scheme"],
        "ccg": document["ccg"],
        "area_team_code": ccg.area_team_code,
        "region_code": ccg.region_code,
        "states": json.dumps(states(document), sort_keys=True, separators=(",", ":")),
    }


def item_counters(stored_states: str | None) -> dict[str, Counter[str]]:
    """Per item, this CCG's contribution to the counts."""
    if stored_states is None:
        return {}
    out: dict[str, Counter[str]] = {}
    for item, (state, earned) in json.loads(stored_states).items():
        out[item] = Counter({"ccgs": 1, state: 1, "earned_pence": int(earned)})
    return out


def define_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    members = Table(
        prefix + "members",
        metadata,
        Column("scheme", String(32), primary_key=True),
        Column("ccg", String(8), primary_key=True),
        Column("area_team_code", String(16), nullable=False),
        Column("region_code", String(16), nullable=False),
        Column("states", Text, nullable=False),
        Column("events_applied", BIG, nullable=False),
    )
    groups = Table(
        prefix + "groups",
        metadata,
        Column("scheme", String(32), primary_key=True),
        Column("level", String(16), primary_key=True),
        Column("code", String(16), primary_key=True),
        Column("kind", String(16), primary_key=True),
        Column("item", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("ccgs", Integer, nullable=False),
        Column("met", Integer, nullable=False),
        Column("not_met", Integer, nullable=False),
        Column("pending", Integer, nullable=False),
        Column("earned_pence", BIG, nullable=False),
    )
    return {"members": members, "groups": groups}


def _group_rows(
    totals: dict[GroupKey, Counter[str]], names: dict[GroupKey, str]
) -> list[dict[str, Any]]:
    return [
        {
            "scheme": g[0],
            "level": g[1],
            "code": g[2],
            "kind": g[3],
            "item": g[4],
            "name": names[g],
            **{f: total[f] for f in COUNTERS},
        }
        for g, total in totals.items()
    ]


def _add(
    totals: dict[GroupKey, Counter[str]],
    names: dict[GroupKey, str],
    key: Key,
    change: dict[str, Counter[str]],
) -> None:
    for level, code, name in groups_of(key[1]):
        for item, delta in change.items():
            kind, item_id = item.split(":", 1)
            group = (key[0], level, code, kind, item_id)
            names[group] = name
            totals.setdefault(group, Counter()).update(delta)


class AttainmentView(ReadModelView):
    """Met / not met / pending counts per item, kept by adding each CCG's change."""

    name = "attainment"
    define_tables = staticmethod(define_tables)

    def record_states(self, pending: Pending, tracking: Tracking) -> None:
        self.record(pending, tracking)

    def prepare(self, writes: Sequence[Any]) -> Sequence[Any]:
        """Only each CCG's last decision in the batch is computed and written."""
        return latest_members(writes, member_row)

    def write(self, conn: Connection, writes: Sequence[Any]) -> None:
        members = self.tables["members"]
        latest = {(m["scheme"], m["ccg"]): m for m, _ in writes}
        counts = {(m["scheme"], m["ccg"]): n for m, n in writes}
        stored = conn.execute(
            select(members.c.scheme, members.c.ccg, members.c.states).where(
                tuple_(members.c.scheme, members.c.ccg).in_(list(latest))
            )
        ).all()
        before = {(s, c): st for s, c, st in stored}
        deltas: dict[GroupKey, Counter[str]] = {}
        names: dict[GroupKey, str] = {}
        for key, member in latest.items():
            new, old = item_counters(member["states"]), item_counters(before.get(key))
            change = {}
            for item in set(new) | set(old):
                delta = Counter(new.get(item, Counter()))
                delta.subtract(old.get(item, Counter()))
                change[item] = delta
            _add(deltas, names, key, change)
        upsert(
            conn,
            members,
            [{**m, "events_applied": counts[k]} for k, m in latest.items()],
            ["scheme", "ccg"],
            increments=["events_applied"],
            exists=lambda row: (row["scheme"], row["ccg"]) in before,
        )
        upsert(
            conn,
            self.tables["groups"],
            _group_rows(deltas, names),
            ["scheme", "level", "code", "kind", "item"],
            increments=COUNTERS,
        )


class AttainmentProjection(ReadModelProjection[AttainmentView]):
    """Keeps measure and standard attainment across CCGs."""

    name = "attainment"
    every_decision = False
    view_class = AttainmentView

    def show(self, decision: HasDocument, event: EventInfo, tracking: Tracking) -> None:
        self.view.record_states(Pending(event.key, decision), tracking)


def expected_rows(
    latest: dict[Key, dict[str, Any]],
    counts: dict[Key, int],
    timeline: list[dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """Members and counts from scratch over fresh decisions (for ``check``)."""
    members = [{**member_row(d), "events_applied": counts[k]} for k, d in latest.items()]
    totals: dict[GroupKey, Counter[str]] = {}
    names: dict[GroupKey, str] = {}
    for member in members:
        _add(totals, names, (member["scheme"], member["ccg"]), item_counters(member["states"]))
    return {"members": members, "groups": _group_rows(totals, names)}
