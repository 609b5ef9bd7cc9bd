"""The abstract view: a projection's tables plus its tracking record, written together.

This is the 9.5 pattern (a ``TrackingRecorder`` subclass as the materialised
view), with two things the library's SQLAlchemy tracking recorder does not
give:

**Exactly once under races.** ``SQLAlchemyTrackingRecorder._insert_tracking``
checks the stored position and then updates it; two projectors that both
check before either commits both pass, and an event is applied twice. Here a
batch transaction first takes row locks -- the projection's catalog row
(shared) and its tracking row (exclusive, ``SELECT ... FOR UPDATE``) -- and
only then compares the stored position with the one the projector started
from. A second projector blocks on the lock, then sees the winner's position
and raises ``TrackingConflict`` before writing anything; the final
``UPDATE ... WHERE notification_id = <locked value>`` is a compare-and-set
that must hit exactly one row. Nothing is committed unless all of it is, so
a projector killed at any point leaves either the whole batch or none of it.
On SQLite the write transaction starts with ``BEGIN IMMEDIATE`` (the single
write lock), which serialises the same read-compare-write.

**Batches.** Writes made while a ``batch()`` is open are buffered and
committed in one transaction with one tracking record (that of the last
event), so catching up costs one commit per few hundred events instead of
one per event. Outside a batch each write commits alone, as in the library.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking, TrackingRecorder
from sqlalchemy import MetaData, Table, bindparam, select, tuple_, update
from sqlalchemy.engine import Connection

from ledger.projections.database import ReadModelDatabase, now_us

#: Fault injection for the kill tests: seconds to sleep after a batch's writes,
#: before its tracking update and commit (so SIGKILL lands mid-transaction).
FAULT_DELAY = "QP_LEDGER_PROJECTION_FAULT_DELAY"


class TrackingConflict(Exception):
    """The projection moved on without us (another projector, or a switch): resync."""


class GenerationRetired(TrackingConflict):
    """The generation this view writes is no longer the active one (a rebuild switched)."""


class NotCaughtUp(Exception):
    """A rebuilt generation is behind the live one, so it may not be switched to yet."""


@dataclass
class _Batch:
    previous: int | None
    writes: list[Any] = field(default_factory=list)
    last: Tracking | None = None
    events: int = 0


class ReadModelView(TrackingRecorder, ABC):
    """One generation of a projection's tables and its tracking row."""

    #: The projection's name (``decisions``, ``summaries``, ``attainment``).
    name: ClassVar[str]

    def __init__(
        self,
        db: ReadModelDatabase,
        generation: int,
        *,
        building: bool = False,
    ) -> None:
        self.db = db
        self.generation = generation
        #: True while a rebuild fills this generation, before it is switched to.
        self.building = building
        self.tables = db.tables(self.name, generation, self.define_tables)
        self.fault_delay = float(os.environ.get(FAULT_DELAY, "") or 0)
        self._batch: _Batch | None = None

    @staticmethod
    @abstractmethod
    def define_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
        """The projection's tables, named with the generation's prefix."""

    @abstractmethod
    def write(self, conn: Connection, writes: Sequence[Any]) -> None:
        """Apply a batch's prepared writes inside its transaction."""

    def prepare(self, writes: Sequence[Any]) -> Sequence[Any]:
        """Turn a batch's buffered writes (in event order) into what ``write`` applies.

        Runs before the transaction opens, so slow work here holds no lock.
        """
        return writes

    # -- TrackingRecorder -------------------------------------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record that an event was seen that changes nothing in this view."""
        if self._batch is None:
            with self.batch(previous=None):
                self.insert_tracking(tracking)
            return
        self._batch.last = tracking

    def max_tracking_id(self, application_name: str) -> int | None:
        t = self.db.tracking
        with self.db.read() as conn:
            found = conn.execute(
                select(t.c.notification_id).where(
                    t.c.projection == self.name,
                    t.c.generation == self.generation,
                    t.c.application_name == application_name,
                )
            ).scalar()
        return int(found) if found else None

    # -- writing ------------------------------------------------------------------

    def record(self, write: Any, tracking: Tracking) -> None:
        """Buffer one event's write in the open batch, or commit it alone."""
        if self._batch is None:
            with self.batch(previous=None):
                self.record(write, tracking)
            return
        self._batch.writes.append(write)
        self._batch.last = tracking
        self._batch.events += 1

    @contextmanager
    def batch(self, previous: int | None, *, switch: bool = False) -> Iterator[None]:
        """Collect writes, then commit them with one tracking record, exactly once.

        ``previous`` is the position the caller believes is stored: the commit
        goes ahead only if it still is (compare-and-set). ``None`` accepts any
        stored position below the new one (a single write, library style).
        With ``switch`` the commit also makes this generation the active one,
        provided it is not behind the generation it replaces.
        """
        if self._batch is not None:
            yield
            return
        self._batch = _Batch(previous)
        try:
            yield
            batch = self._batch
        finally:
            self._batch = None
        if batch.last is not None or switch:
            self._commit(batch, switch=switch)

    def _commit(self, batch: _Batch, *, switch: bool) -> None:
        prepared = self.prepare(batch.writes) if batch.writes else ()
        with self.db.write() as conn:
            locked = self._claim(conn, batch, switch=switch)
            if prepared:
                self.write(conn, prepared)
            if self.fault_delay:
                time.sleep(self.fault_delay)
            if batch.last is not None:
                self._advance(conn, batch, locked)
            if switch:
                self.db.switch(conn, self.name, self.generation)
        if switch:
            self.building = False

    def load(self, rows: dict[str, list[dict[str, Any]]], last: Tracking, events: int) -> None:
        """Fill the empty generation being built, up to ``last``, in one transaction.

        The same claim as a batch (from position 0), so a load can only land
        once and only before anything else was written to the generation.
        """
        assert self.building, "only a generation being built is loaded whole"
        batch = _Batch(previous=0, last=last, events=events)
        with self.db.write() as conn:
            locked = self._claim(conn, batch, switch=False)
            for name, table_rows in rows.items():
                bulk_insert(conn, self.tables[name], table_rows)
            self._advance(conn, batch, locked)

    def _advance(self, conn: Connection, batch: _Batch, locked: int) -> None:
        """Move the tracking row on (a compare-and-set on the locked position)."""
        assert batch.last is not None
        t = self.db.tracking
        moved = conn.execute(
            update(t)
            .where(
                t.c.projection == self.name,
                t.c.generation == self.generation,
                t.c.notification_id == locked,
            )
            .values(
                notification_id=batch.last.notification_id,
                events_applied=t.c.events_applied + batch.events,
                updated_us=now_us(),
            )
        )
        if moved.rowcount != 1:  # pragma: no cover - the row lock makes this impossible
            raise TrackingConflict(f"{self.name}: tracking row changed under its lock")

    def _claim(self, conn: Connection, batch: _Batch, *, switch: bool) -> int:
        """Lock the catalog and tracking rows, then check nobody else moved them."""
        c, t = self.db.catalog, self.db.tracking
        active_query = select(c.c.generation).where(c.c.projection == self.name)
        active = conn.execute(
            active_query.with_for_update() if switch else active_query.with_for_update(read=True)
        ).scalar()
        if active is None:
            raise GenerationRetired(f"{self.name}: no active generation (tables dropped?)")
        if (self.building and active >= self.generation) or (
            not self.building and active != self.generation
        ):
            raise GenerationRetired(
                f"{self.name}: generation {self.generation} is retired (active: {active})"
            )
        locked_value = conn.execute(
            select(t.c.notification_id)
            .where(t.c.projection == self.name, t.c.generation == self.generation)
            .with_for_update()
        ).scalar()
        if locked_value is None:
            raise GenerationRetired(f"{self.name}: generation {self.generation} has no tracking")
        locked = int(locked_value)
        new = batch.last.notification_id if batch.last is not None else locked
        if batch.previous is None:
            if batch.last is not None and locked >= new:
                raise TrackingConflict(
                    f"{self.name}: position {new} was already applied (stored {locked})"
                )
        elif locked != batch.previous:
            raise TrackingConflict(
                f"{self.name}: expected to continue from {batch.previous}, but the stored "
                f"position is {locked} (another projector moved it)"
            )
        if switch:
            live = conn.execute(
                select(t.c.notification_id).where(
                    t.c.projection == self.name, t.c.generation == active
                )
            ).scalar()
            if live is not None and new < int(live):
                raise NotCaughtUp(
                    f"{self.name}: generation {self.generation} is at {new}, the live one at {live}"
                )
        return locked


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    increments: Sequence[str] = (),
    *,
    exists: Callable[[dict[str, Any]], bool] | None = None,
) -> None:
    """Insert the rows whose key is new; update the others (``increments`` are added to).

    Done as a keyed read, an INSERT and an UPDATE rather than ``INSERT ... ON
    CONFLICT``: SQLAlchemy cannot cache the compiled form of ON CONFLICT, and
    compiling it for every one-event batch cost more than the round trips.
    The read is inside the batch's transaction, after its locks, so it is exact;
    a caller that already knows which keys exist passes ``exists`` instead.
    """
    if not rows:
        return
    if exists is None:
        key_columns = [table.c[k] for k in keys]
        wanted = list({tuple(r[k] for k in keys) for r in rows})
        found = conn.execute(select(*key_columns).where(tuple_(*key_columns).in_(wanted)))
        existing = {tuple(row) for row in found}

        def exists(row: dict[str, Any]) -> bool:
            return tuple(row[k] for k in keys) in existing

    new = [r for r in rows if not exists(r)]
    old = [r for r in rows if exists(r)]
    if new:
        conn.execute(table.insert(), new)
    if old:
        values = [c.name for c in table.columns if c.name not in keys]
        params = [
            {**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in values}} for r in old
        ]
        conn.execute(_update_statement(table, tuple(keys), tuple(increments)), params)


_UPDATES: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}


def _update_statement(table: Table, keys: tuple[str, ...], increments: tuple[str, ...]) -> Any:
    """``UPDATE t SET c = :v_c, n = n + :v_n WHERE k = :k_k`` (built once per table)."""
    cache_key = (table.name, keys, increments)
    found = _UPDATES.get(cache_key)
    if found is None:
        changes: dict[str, Any] = {}
        for c in table.columns:
            if c.name in keys:
                continue
            value = bindparam(f"v_{c.name}", type_=c.type)
            changes[c.name] = c + value if c.name in increments else value
        found = _UPDATES[cache_key] = (
            update(table)
            .where(*(table.c[k] == bindparam(f"k_{k}", type_=table.c[k].type) for k in keys))
            .values(changes)
        )
    return found


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), list(rows))


#: Rows per INSERT executemany when a rebuild loads a table whole.
LOAD_CHUNK = 5000


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows into an empty table (multi-row VALUES on PostgreSQL, in chunks)."""
    for start in range(0, len(rows), LOAD_CHUNK):
        conn.execute(table.insert(), list(rows[start : start + LOAD_CHUNK]))
