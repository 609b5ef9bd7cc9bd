"""Group totals: the one way ``summaries`` and ``attainment`` are kept.

For each scheme and group (England, a region, an area team) a read model of
this kind sums what each CCG contributes: ``members`` keeps each CCG's current
contribution, and each new decision adds (new - old) to its three groups.
That makes a doubly-applied event visible as a wrong total, which ``check``
(a from-scratch sum over fresh decisions, :meth:`GroupTotalsView.expected_rows`)
looks for. The two read models differ only in what a CCG contributes and
whether a group splits into items (attainment: one row per measure or
standard); both are written by :meth:`GroupTotalsView.write`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from eventsourcing.persistence import Tracking
from sqlalchemy import Column, Integer, MetaData, String, Table, select, tuple_
from sqlalchemy.engine import Connection

from ledger.domain.ccgs import get_ccg
from ledger.projections.database import BIG, ccg_key
from ledger.projections.projection import (
    EventInfo,
    HasDocument,
    Pending,
    ReadModelProjection,
    latest_members,
)
from ledger.projections.view import ReadModelView, upsert

Key = tuple[str, str]
#: What one CCG adds to its groups, per item (``()`` when a group has no items).
Contributions = dict[tuple[str, ...], Counter[str]]
ExpectedRows = dict[str, list[dict[str, Any]]]

#: England, as the ONS codes it.
NATION_CODE, NATION_NAME = "E92000001", "England"
#: A counter that is the number of events applied, not a sum of contributions.
EVENTS = "events_applied"


def groups_of(ccg_code: str) -> list[tuple[str, str, str]]:
    """The (level, code, name) of the groups a CCG counts in: nation, region, area team."""
    ccg = get_ccg(ccg_code)
    assert ccg is not None, ccg_code
    return [
        ("nation", NATION_CODE, NATION_NAME),
        ("region", ccg.region_code, ccg.region_name),
        ("area_team", ccg.area_team_code, ccg.area_team_name),
    ]


def member_key(document: dict[str, Any]) -> dict[str, Any]:
    """The columns every ``members`` row starts with: the CCG and the groups it counts in."""
    ccg = get_ccg(document["ccg"])
    assert ccg is not None
    return {
        "scheme": document["scheme"],
        "ccg": document["ccg"],
        "area_team_code": ccg.area_team_code,
        "region_code": ccg.region_code,
    }


def members_table(metadata: MetaData, prefix: str, *contribution: Column[Any]) -> Table:
    return Table(
        prefix + "members",
        metadata,
        *ccg_key(),
        Column("area_team_code", String(16), nullable=False),
        Column("region_code", String(16), nullable=False),
        *contribution,
        Column(EVENTS, BIG, nullable=False),
    )


def groups_table(
    metadata: MetaData, prefix: str, items: Iterable[Column[Any]], counters: Iterable[Column[Any]]
) -> Table:
    return Table(
        prefix + "groups",
        metadata,
        Column("scheme", String(32), primary_key=True),
        Column("level", String(16), primary_key=True),
        Column("code", String(16), primary_key=True),
        *items,
        Column("name", String(200), nullable=False),
        *counters,
    )


def integers(*names: str) -> list[Column[Any]]:
    return [Column(name, Integer, nullable=False) for name in names]


def bigints(*names: str) -> list[Column[Any]]:
    return [Column(name, BIG, nullable=False) for name in names]


class GroupTotalsView(ReadModelView):
    """Group totals kept by adding each CCG's change of contribution."""

    #: Columns that split a group into items (with the group's, the key of a ``groups`` row).
    item_keys: ClassVar[tuple[str, ...]] = ()
    #: The ``groups`` columns added to on each write.
    counters: ClassVar[tuple[str, ...]]

    @staticmethod
    @abstractmethod
    def member_row(document: dict[str, Any]) -> dict[str, Any]:
        """A CCG's ``members`` row (without ``events_applied``) from its decision document."""

    @staticmethod
    @abstractmethod
    def contributions(member: dict[str, Any]) -> Contributions:
        """What a ``members`` row adds to its groups."""

    def prepare(self, writes: Sequence[Any]) -> Sequence[Any]:
        """Only each CCG's last decision in the batch is computed and written."""
        return latest_members(writes, self.member_row)

    def write(self, conn: Connection, writes: Sequence[Any]) -> None:
        members = self.tables["members"]
        latest = {(m["scheme"], m["ccg"]): m for m, _ in writes}
        applied = {(m["scheme"], m["ccg"]): n for m, n in writes}
        stored = conn.execute(
            select(members).where(tuple_(members.c.scheme, members.c.ccg).in_(list(latest)))
        ).mappings()
        before = {(row["scheme"], row["ccg"]): dict(row) for row in stored}
        totals = _Totals(self)
        for key, member in latest.items():
            new = self.contributions(member)
            old = {} if key not in before else self.contributions(before[key])
            change: Contributions = {}
            for item in set(new) | set(old):
                delta = change[item] = Counter(new.get(item, Counter()))
                delta.subtract(old.get(item, Counter()))
            totals.add(key, change, applied[key])
        upsert(
            conn,
            members,
            [{**m, EVENTS: applied[k]} for k, m in latest.items()],
            ["scheme", "ccg"],
            increments=[EVENTS],
            exists=lambda row: (row["scheme"], row["ccg"]) in before,
        )
        upsert(
            conn,
            self.tables["groups"],
            totals.rows(),
            ["scheme", "level", "code", *self.item_keys],
            increments=self.counters,
        )

    @classmethod
    def expected_rows(
        cls,
        latest: dict[Key, dict[str, Any]],
        applied: dict[Key, int],
        timeline: list[dict[str, Any]],
    ) -> ExpectedRows:
        """Members and group totals summed from scratch over fresh decisions (for ``check``)."""
        members = [{**cls.member_row(d), EVENTS: applied[k]} for k, d in latest.items()]
        totals = _Totals(cls)
        for member in members:
            totals.add((member["scheme"], member["ccg"]), cls.contributions(member), member[EVENTS])
        return {"members": members, "groups": totals.rows()}


TotalsView = TypeVar("TotalsView", bound=GroupTotalsView)


class GroupTotalsProjection(ReadModelProjection[TotalsView]):
    """Shows each CCG's decision to a group-totals view (only the last of a batch is written)."""

    every_decision = False

    def show(self, decision: HasDocument, event: EventInfo, tracking: Tracking) -> None:
        self.view.record(Pending(event.key, decision), tracking)


class _Totals:
    """Sums per group row, as the ``groups`` table keys them."""

    def __init__(self, view: type[GroupTotalsView] | GroupTotalsView) -> None:
        self.keys = ("scheme", "level", "code", *view.item_keys)
        self.counters = view.counters
        self.sums: dict[tuple[str, ...], Counter[str]] = {}
        self.names: dict[tuple[str, ...], str] = {}

    def add(self, key: Key, change: Contributions, events: int) -> None:
        """Add one CCG's change to its three groups (and ``events`` if the groups count them)."""
        if EVENTS in self.counters:
            for delta in change.values():
                delta[EVENTS] += events
        for level, code, name in groups_of(key[1]):
            for item, delta in change.items():
                group = (key[0], level, code, *item)
                self.names[group] = name
                self.sums.setdefault(group, Counter()).update(delta)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                **dict(zip(self.keys, group, strict=True)),
                "name": self.names[group],
                **{f: total[f] for f in self.counters},
            }
            for group, total in self.sums.items()
        ]
