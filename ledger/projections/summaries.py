"""Read model: totals by area team, region and nation.

For each scheme and each group (England, a region, an area team): how many
CCGs have a record, how many decisions are final or still provisional, the
payable, earned and maximum totals (the maximum pot is 500p x population for
each CCG whose population is recorded), from which the share of the pot paid
is derived when read.

It is maintained incrementally: ``members`` keeps each CCG's current
contribution, and each new decision adds (new - old) to its three groups.
That makes a doubly-applied event visible as a wrong total, which is what
``check`` (a from-scratch sum over fresh decisions) looks for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from sqlalchemy import Column, Integer, MetaData, String, Table, select, tuple_
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
from ledger.projections.view import ReadModelView, upsert

Key = tuple[str, str]
GroupKey = tuple[str, str, str]  # (scheme, level, code)

#: England, as the ONS codes it.
NATION_CODE, NATION_NAME = "E92000001", "England"
LEVELS = ("nation", "region", "area_team")
COUNTERS = ("ccgs", "final", "provisional", "payable_pence", "earned_pence", "maximum_pence")


def groups_of(ccg_code: str) -> list[tuple[str, str, str]]:
    """The (level, code, name) of the groups a CCG counts in: nation, region, area team."""
    ccg = get_ccg(ccg_code)
    assert ccg is not None, ccg_code
    return [
        ("nation", NATION_CODE, NATION_NAME),
        ("region", ccg.region_code, ccg.region_name),
        ("area_team", ccg.area_team_code, ccg.area_team_name),
    ]


def member_row(document: dict[str, Any]) -> dict[str, Any]:
    """A CCG's contribution to its groups' totals (without ``events_applied``)."""
    ccg = get_ccg(document["ccg"])
    assert ccg is not None
    return {
        "scheme": document["scheme"],
        "ccg": document["ccg"],
        "area_team_code": ccg.area_team_code,
        "region_code": ccg.region_code,
        "status": document["status"],
        "payable_pence": document["payable_pence"],
        "earned_pence": document["earned_pence"],
        "maximum_pence": document["maximum_pence"],
    }


def counters(member: dict[str, Any] | None) -> Counter[str]:
    if member is None:
        return Counter()
    return Counter(
        {
            "ccgs": 1,
            "final": int(member["status"] == "final"),
            "provisional": int(member["status"] == "provisional"),
            "payable_pence": int(member["payable_pence"]),
            "earned_pence": int(member["earned_pence"]),
            "maximum_pence": int(member["maximum_pence"]),
        }
    )


def group_row(scheme: str, level: str, code: str, name: str) -> dict[str, Any]:
    return {"scheme": scheme, "level": level, "code": code, "name": name}


def define_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    members = Table(
        prefix + "members",
        metadata,
        Column("scheme", String(32), primary_key=True),
        Column("ccg", String(8), primary_key=True),
        Column("area_team_code", String(16), nullable=False),
        Column("region_code", String(16), nullable=False),
        Column("status", String(16), nullable=False),
        Column("payable_pence", BIG, nullable=False),
        Column("earned_pence", BIG, nullable=False),
        Column("maximum_pence", BIG, nullable=False),
        Column("events_applied", BIG, nullable=False),
    )
    groups = Table(
        prefix + "groups",
        metadata,
        Column("scheme", String(32), primary_key=True),
        Column("level", String(16), primary_key=True),
        Column("code", String(16), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("ccgs", Integer, nullable=False),
        Column("final", Integer, nullable=False),
        Column("provisional", Integer, nullable=False),
        Column("payable_pence", BIG, nullable=False),
        Column("earned_pence", BIG, nullable=False),
        Column("maximum_pence", BIG, nullable=False),
        Column("events_applied", BIG, nullable=False),
    )
    return {"members": members, "groups": groups}


class SummariesView(ReadModelView):
    """Group totals kept by adding each CCG's change of contribution."""

    name = "summaries"
    define_tables = staticmethod(define_tables)

    def record_contribution(self, pending: Pending, tracking: Tracking) -> None:
        self.record(pending, tracking)

    def prepare(self, writes: Sequence[Any]) -> Sequence[Any]:
        """Only each CCG's last decision in the batch is computed and written."""
        return latest_members(writes, member_row)

    def write(self, conn: Connection, writes: Sequence[Any]) -> None:
        members = self.tables["members"]
        latest = {(m["scheme"], m["ccg"]): m for m, _ in writes}
        counts = {(m["scheme"], m["ccg"]): n for m, n in writes}
        stored = conn.execute(
            select(members).where(tuple_(members.c.scheme, members.c.ccg).in_(list(latest)))
        ).mappings()
        before = {(row["scheme"], row["ccg"]): dict(row) for row in stored}
        deltas: dict[GroupKey, Counter[str]] = {}
        names: dict[GroupKey, str] = {}
        for key, member in latest.items():
            change = counters(member)
            change.subtract(counters(before.get(key)))
            change["events_applied"] = counts[key]
            for level, code, name in groups_of(key[1]):
                group = (key[0], level, code)
                names[group] = name
                deltas.setdefault(group, Counter()).update(change)
        upsert(
            conn,
            members,
            [{**m, "events_applied": counts[k]} for k, m in latest.items()],
            ["scheme", "ccg"],
            increments=["events_applied"],
            exists=lambda row: (row["scheme"], row["ccg"]) in before,
        )
        fields = (*COUNTERS, "events_applied")
        rows = [
            {**group_row(*group, names[group]), **{f: delta[f] for f in fields}}
            for group, delta in deltas.items()
        ]
        upsert(
            conn,
            self.tables["groups"],
            rows,
            ["scheme", "level", "code"],
            increments=fields,
        )


class SummariesProjection(ReadModelProjection[SummariesView]):
    """Keeps the area team, region and England totals."""

    name = "summaries"
    every_decision = False
    view_class = SummariesView

    def show(self, decision: HasDocument, event: EventInfo, tracking: Tracking) -> None:
        self.view.record_contribution(Pending(event.key, decision), tracking)


def expected_rows(
    latest: dict[Key, dict[str, Any]],
    counts: dict[Key, int],
    timeline: list[dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """Members and group totals summed from scratch over fresh decisions (for ``check``)."""
    members = [{**member_row(d), "events_applied": counts[k]} for k, d in latest.items()]
    totals: dict[GroupKey, Counter[str]] = {}
    names: dict[GroupKey, str] = {}
    for member in members:
        for level, code, name in groups_of(member["ccg"]):
            group = (member["scheme"], level, code)
            names[group] = name
            total = totals.setdefault(group, Counter())
            total.update(counters(member))
            total["events_applied"] += member["events_applied"]
    groups = [
        {
            **group_row(*group, names[group]),
            **{f: total[f] for f in (*COUNTERS, "events_applied")},
        }
        for group, total in totals.items()
    ]
    return {"members": members, "groups": groups}
