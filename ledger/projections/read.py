"""The read side: what the reporting API (and anything else) asks of the read models.

Every query first looks up the projection's active generation and its
tracked position, then reads that generation's tables, all in one snapshot;
each answer says the log position it reflects. ``wait_for`` gives
read-your-writes: a caller that wrote at position P waits (briefly) until
the read models have applied P.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from ledger.adapters.log_head import OneRoundTrip
from ledger.adapters.recorder import index_table
from ledger.config import DEFAULT_DATABASE_URL, database_url_from_env
from ledger.domain.clock import us_to_iso
from ledger.domain.errors import InvalidCommand, LedgerError
from ledger.projections.database import ReadModelDatabase, make_engine
from ledger.projections.registry import PROJECTIONS, read_model

#: Columns a decisions list may be sorted by (``-name`` for descending).
DECISION_SORTS = (
    "ccg", "ccg_name", "area_team_code", "region_code", "status", "population",
    "maximum_pence", "earned_pence", "payable_pence", "position",
)  # fmt: skip
DECISION_FIELDS = (
    "scheme", "ccg", "ccg_name", "area_team_code", "area_team_name", "region_code",
    "region_name", "status", "population", "maximum_pence", "earned_pence", "payable_pence",
    "met_share", "deduction_factor", "measures_met", "standards_not_met", "quality_gate_open",
    "financial_gate_open", "position", "as_of", "engine_version", "inputs_digest",
)  # fmt: skip
SUMMARY_FIELDS = (
    "scheme", "level", "code", "name", "ccgs", "final", "provisional", "payable_pence",
    "earned_pence", "maximum_pence",
)  # fmt: skip
GROUP_LEVELS = ("nation", "region", "area_team")
ITEM_KINDS = ("measure", "standard")
MAX_PAGE_SIZE = 1000


class ReadModelNotReady(LedgerError):
    """The read model has not been built yet (no projector has run)."""

    code = "not-ready"


def share(part: int, whole: int) -> str | None:
    """``part / whole`` to four decimal places, half up (None when there is no pot)."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


@dataclass(frozen=True)
class Page:
    """One page of rows, how many there are in all, and the log position they reflect."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    position: int


class ReadModels:
    """Queries over the active generation of each read model."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        db: ReadModelDatabase | None = None,
        application_name: str = "QPLedger",
    ) -> None:
        url = database_url or database_url_from_env() or DEFAULT_DATABASE_URL
        self.db = db or ReadModelDatabase(url)
        c, t = self.db.catalog, self.db.tracking
        joined = c.outerjoin(
            t, (t.c.projection == c.c.projection) & (t.c.generation == c.c.generation)
        )
        # Every report asks where its read model stands. The read engine pings each
        # connection it hands out (a round trip, as long as the query itself);
        # this one does not: a dropped connection fails the one-round-trip read,
        # which then asks again through the pinged engine (OneRoundTrip's fallback).
        self._unpinged = (
            make_engine(self.db.url, ping=False) if self.db.dialect == "postgresql" else None
        )
        self._stands = OneRoundTrip(
            self._unpinged or self.db.engine,
            select(c.c.generation, t.c.notification_id)
            .select_from(joined)
            .where(c.c.projection == bindparam("name")),
        )
        self.index = index_table(application_name.lower() + "_events")

    def close(self) -> None:
        self.db.dispose()
        if self._unpinged is not None:
            self._unpinged.dispose()

    # -- positions --------------------------------------------------------------

    def head(self) -> int:
        """The log's last position (0 for an empty or new database)."""
        if not inspect(self.db.engine).has_table(self.index.name):
            return 0
        with self.db.read() as conn:
            return int(conn.execute(select(func.max(self.index.c.position))).scalar() or 0)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per read model: active generation, position, events applied, last update."""
        out: dict[str, dict[str, Any]] = {}
        built = self.db.has_catalog()
        c, t = self.db.catalog, self.db.tracking
        found: dict[str, Any] = {}
        if built:
            with self.db.read() as conn:
                joined = select(t).join(
                    c, (c.c.projection == t.c.projection) & (c.c.generation == t.c.generation)
                )
                found = {row["projection"]: row for row in conn.execute(joined).mappings()}
        for name in PROJECTIONS:
            row = found.get(name)
            out[name] = {
                "built": row is not None,
                "generation": row["generation"] if row else None,
                "position": int(row["notification_id"]) if row else 0,
                "events_applied": int(row["events_applied"]) if row else 0,
                "updated_at": us_to_iso(int(row["updated_us"])) if row else None,
            }
        return out

    def position(self, names: Sequence[str] = ()) -> int:
        """The lowest position among the named read models (all by default)."""
        status = self.status()
        return min(int(status[read_model(n).name]["position"]) for n in (names or list(status)))

    def stands(self, name: str) -> tuple[int, int]:
        """The read model's active generation and the log position it has applied.

        One query, in one round trip on PostgreSQL (``OneRoundTrip``: every report
        asks it). Its tables change only with this pair (the projector moves the
        position in the transaction that writes them), so a reader may keep what
        it built from them under the pair: the reporting API keeps its bodies so.
        """
        if not self.db.has_catalog():
            raise ReadModelNotReady(
                f"the {name} read model has not been built yet: run `qp-ledger project`"
            )
        query = self._stands

        def fallback() -> Any:
            with self.db.read() as conn:
                return conn.execute(query.statement, {"name": name}).first()

        row = query.first(fallback, name=name)
        if row is None:
            raise ReadModelNotReady(
                f"the {name} read model has not been built yet: run `qp-ledger project`"
            )
        return int(row[0]), int(row[1] or 0)

    def wait_for(
        self, min_position: int, names: Sequence[str] = (), timeout: float = 2.0
    ) -> tuple[bool, int]:
        """Wait until the read models have applied ``min_position``: (reached?, position)."""
        deadline = time.monotonic() + timeout
        interval = 0.01
        while True:
            position = self.position(names)
            if position >= min_position:
                return True, position
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False, position
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, 0.1)

    # -- queries ----------------------------------------------------------------

    def _open(self, conn: Connection, name: str) -> tuple[dict[str, Table], int]:
        spec = read_model(name)
        generation = self.db.active_generation(conn, name) if self.db.has_catalog() else None
        if generation is None:
            raise ReadModelNotReady(
                f"the {name} read model has not been built yet: run `qp-ledger project`"
            )
        t = self.db.tracking
        position = conn.execute(
            select(t.c.notification_id).where(t.c.projection == name, t.c.generation == generation)
        ).scalar()
        return self.db.tables(name, generation, spec.define_tables), int(position or 0)

    @staticmethod
    def _page(
        conn: Connection,
        query: Any,
        order: list[Any],
        page: int,
        page_size: int,
    ) -> tuple[list[dict[str, Any]], int]:
        total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar() or 0)
        rows = conn.execute(
            query.order_by(*order).limit(page_size).offset((page - 1) * page_size)
        ).mappings()
        return [dict(r) for r in rows], total

    def decisions(
        self,
        *,
        scheme: str | None = None,
        area_team: str | None = None,
        region: str | None = None,
        status: str | None = None,
        sort: str = "ccg",
        page: int = 1,
        page_size: int = 50,
    ) -> Page:
        """Current decisions, filtered, sorted (ties by scheme then CCG) and paged."""
        descending = sort.startswith("-")
        column_name = sort.lstrip("-")
        if column_name not in DECISION_SORTS:
            raise InvalidCommand(
                f"sort: cannot sort by {sort!r}", field="sort", allowed=list(DECISION_SORTS)
            )
        with self.db.read() as conn:
            tables, position = self._open(conn, "decisions")
            t = tables["current"]
            query = select(*(t.c[f] for f in DECISION_FIELDS))
            filters: list[ColumnElement[bool]] = []
            for column, value in (
                ("scheme", scheme), ("area_team_code", area_team),
                ("region_code", region), ("status", status),
            ):  # fmt: skip
                if value is not None:
                    filters.append(t.c[column] == value)
            query = query.where(*filters)
            key = t.c[column_name]
            primary = (key.desc() if descending else key.asc()).nulls_last()
            items, total = self._page(
                conn, query, [primary, t.c.scheme.asc(), t.c.ccg.asc()], page, page_size
            )
        for item in items:
            item["share_paid"] = share(item["payable_pence"], item["maximum_pence"])
        return Page(items, total, page, page_size, position)

    def decision_document(self, ccg: str, scheme: str) -> tuple[dict[str, Any] | None, int]:
        """The stored decision document of one CCG (None if it has no record yet).

        It is the engine's document; pass it to ``QPLedger.attach_log`` (when the
        ledger has it) to get exactly what ``QPLedger.decision`` returns.
        """
        with self.db.read() as conn:
            tables, position = self._open(conn, "decisions")
            t = tables["current"]
            text = conn.execute(
                select(t.c.document).where(t.c.scheme == scheme, t.c.ccg == ccg)
            ).scalar()
        return (None if text is None else json.loads(text)), position

    def timeline(self, ccg: str, scheme: str, *, page: int = 1, page_size: int = 50) -> Page:
        """Every change of a CCG's payable amount or status, oldest first."""
        with self.db.read() as conn:
            tables, position = self._open(conn, "decisions")
            t = tables["timeline"]
            query = select(t).where(t.c.scheme == scheme, t.c.ccg == ccg)
            items, total = self._page(conn, query, [t.c.position.asc()], page, page_size)
        for item in items:
            previous = item["previous_payable_pence"]
            item["payable_change_pence"] = (
                None if previous is None else item["payable_pence"] - previous
            )
        return Page(items, total, page, page_size, position)

    def summaries(
        self,
        *,
        scheme: str | None = None,
        group_by: str = "nation",
        page: int = 1,
        page_size: int = 50,
    ) -> Page:
        """Totals per area team, region or England: CCGs by status, payable, share of the pot."""
        share_paid = ("share_of_maximum_paid", "payable_pence", "maximum_pence")
        return self._groups(
            "summaries", SUMMARY_FIELDS, share_paid, group_by, page, page_size, scheme=scheme
        )

    def attainment(
        self,
        *,
        scheme: str | None = None,
        group_by: str = "nation",
        code: str | None = None,
        kind: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page:
        """Per measure and standard: CCGs that met it, did not, or are pending."""
        filters = {"scheme": scheme, "code": code, "kind": kind}
        return self._groups(
            "attainment", None, ("share_met", "met", "ccgs"), group_by, page, page_size, **filters
        )

    def _groups(
        self,
        name: str,
        fields: Sequence[str] | None,
        shared: tuple[str, str, str],
        group_by: str,
        page: int,
        page_size: int,
        **filters: str | None,
    ) -> Page:
        """A page of a group-totals read model's ``groups`` (all columns if ``fields`` is None),
        ordered by scheme, group name and code, then item; ``shared`` is (field, part, whole)."""
        with self.db.read() as conn:
            tables, position = self._open(conn, name)
            t = tables["groups"]
            query = select(t) if fields is None else select(*(t.c[f] for f in fields))
            query = query.where(t.c.level == group_by)
            for column, value in filters.items():
                if value is not None:
                    query = query.where(t.c[column] == value)
            keys = ["scheme", "name", "code"] + [k for k in ("kind", "item") if k in t.c]
            items, total = self._page(conn, query, [t.c[k].asc() for k in keys], page, page_size)
        field, part, whole = shared
        for item in items:
            item[field] = share(item[part], item[whole])
        return Page(items, total, page, page_size, position)
