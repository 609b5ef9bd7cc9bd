"""The event store: eventsourcing-sqlalchemy, extended with the recorded-time index.

The ledger, not the client, sets recorded time, and it must be monotonic in
log order so that "as of T" means "a prefix of the log". The only place that
can guarantee that across processes is the insert transaction itself, after
the events table is locked (PostgreSQL ``LOCK TABLE ... EXCLUSIVE``; SQLite's
single writer). So the application recorder is extended at its
``_insert_stored_events`` extension point to write one row per event into
``<app>_event_index`` in the same transaction: (position, stream, version,
recorded time in microseconds, strictly increasing). As-of queries are then
index lookups, never a scan of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from ledger.adapters.gc_pause import gc_paused
from ledger.adapters.group_commit import GroupCommit
from ledger.adapters.index_codes import IndexCodes
from ledger.adapters.index_reads import IndexReads
from ledger.adapters.key_codes import KeyCodes
from ledger.adapters.pg_write import PostgresWrite
from ledger.adapters.sealing import sealed_rows, sealed_table
from ledger.integrity.log import stream_list
from ledger.integrity.store_integration import IntegrityRecorderMixin

_BIG = BigInteger().with_variant(Integer(), "sqlite")


def index_table(events_table_name: str, metadata: MetaData | None = None) -> Table:
    name = events_table_name.removesuffix("_events") + "_event_index"
    return Table(
        name,
        metadata or MetaData(),
        Column("position", _BIG, primary_key=True, autoincrement=False),
        Column("originator_id", String(36), nullable=False),
        Column("originator_version", _BIG, nullable=False),
        Column("recorded_us", _BIG, nullable=False),
        Index(f"{name}_stream_position", "originator_id", "position"),
        Index(f"{name}_stream_version", "originator_id", "originator_version", unique=True),
        Index(f"{name}_recorded", "recorded_us", unique=True),
    )


def idempotency_table(events_table_name: str, metadata: MetaData | None = None) -> Table:
    """Retried writes: one row per (actor, Idempotency-Key), written with the event."""
    name = events_table_name.removesuffix("_events") + "_idempotency"
    return Table(
        name,
        metadata or MetaData(),
        Column("actor", String(200), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_digest", String(80), nullable=False),
        Column("type", String(64), nullable=False),
        Column("ccg", String(8), nullable=False),
        Column("scheme", String(32), nullable=False),
        Column("version", _BIG, nullable=False),
        Column("position", _BIG, nullable=False),
        Column("recorded_us", _BIG, nullable=False),
    )


def now_us() -> int:
    return time.time_ns() // 1000


class LedgerRecorder(IndexReads, IntegrityRecorderMixin, SQLAlchemyApplicationRecorder):
    """Application recorder that also writes the recorded-time index atomically.

    The SQL implementation of :class:`ledger.adapters.port.LedgerStore`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.index = index_table(self.events_table_name)
        self.idempotency = idempotency_table(self.events_table_name)
        self.sealed = sealed_table(self.events_table_name)
        self.tables += [self.index, self.idempotency, self.sealed]
        #: The ledger's clock (microseconds). Tests may replace it to move time on;
        #: recorded time stays strictly increasing whatever it returns.
        self.clock = now_us
        self._written = threading.local()
        self._pg = PostgresWrite(
            self.events_table_name, self.channel_name, self.index, self.integrity, self.idempotency
        )
        self.key_codes = KeyCodes(self.datastore.engine, self.events_table_name, self.idempotency)
        self.index_codes = IndexCodes(
            self.datastore.engine, self.events_table_name, self.key_codes.key
        )
        #: Concurrent writes of this process share one transaction (PostgreSQL only).
        engine = self.datastore.engine
        postgres = engine is not None and engine.dialect.name == "postgresql"
        self.group_commit = GroupCommit(self) if postgres else None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert in one transaction; on SQLite, with no GC pause inside its write lock."""
        self._written.recorded = {}
        if self.datastore.is_sqlite_filedb:
            with gc_paused():
                return super().insert_events(stored_events, **kwargs)
        if self.group_commit is not None and stored_events and "session" not in kwargs:
            alone = partial(super().insert_events, stored_events, **kwargs)
            return self.group_commit.insert_events(stored_events, kwargs, alone)
        return super().insert_events(stored_events, **kwargs)

    def recorded_us_written(self, position: int) -> int | None:
        """The recorded time this thread's last insert gave a position (no query).

        A receipt must come from the write's own transaction: reading it back
        afterwards is a second round trip that can fail after the commit, and
        a client told "failed" would then retry a write that was stored.
        """
        recorded: dict[int, int] = getattr(self._written, "recorded", {})
        return recorded.get(position)

    def _insert_stored_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        if stored_events and session.get_bind().dialect.name == "postgresql":
            written = self._insert_postgresql(session, stored_events, kwargs.get("idempotency"))
            self._erase(session, kwargs.get("erase"))
            return written
        positions = super()._insert_stored_events(session, stored_events, **kwargs)
        if not stored_events:
            return positions
        # We now hold the log's write lock: the last recorded time cannot move.
        last = session.execute(
            select(self.index.c.recorded_us).order_by(self.index.c.position.desc()).limit(1)
        ).scalar()
        rows = self._index_rows(stored_events, positions, last)
        session.execute(self.index.insert(), rows)
        session.execute(self.index_codes.table.insert(), self.index_codes.rows(session, rows))
        # Hash chain and Merkle log, in the same transaction (ledger/integrity/).
        self._record_integrity(session, stored_events, rows)
        retry = kwargs.get("idempotency")
        if retry is not None:
            # Same transaction as the event: a retry finds this row or no event at all.
            # A racing retry with the same key fails on the primary key and rolls back.
            session.execute(self.idempotency.insert(), [self._idempotency_row(retry, rows)])
        # One key code per event: which key, if any, it stored (ledger/adapters/key_codes.py).
        keyed = None if retry is None else self._idempotency_row(retry, rows)
        session.execute(self.key_codes.table.insert(), self.key_codes.rows(session, rows, keyed))
        sealed = sealed_rows(stored_events)
        if sealed:
            session.execute(self.sealed.insert(), sealed)
        self._erase(session, kwargs.get("erase"))
        return positions

    def _erase(self, session: Session, erase: Mapping[str, Any] | None) -> None:
        """Delete one sealed field's words, in the transaction that records the erasure."""
        if erase is None:
            return
        t = self.sealed.c
        deleted = session.execute(
            self.sealed.delete().where(
                t.originator_id == erase["originator_id"],
                t.originator_version == erase["originator_version"],
                t.field == erase["field"],
            )
        )
        if cast(CursorResult[Any], deleted).rowcount != 1:
            raise IntegrityError(f"the {erase['field']} of event {erase['event_id']} is not stored")

    def _index_rows(
        self, stored_events: Sequence[StoredEvent], positions: Sequence[int], last: int | None
    ) -> list[dict[str, Any]]:
        """Index rows with recorded times strictly after ``last`` (read under the lock)."""
        clock = max(self.clock(), (last or 0) + 1)
        rows = [
            {
                "position": position,
                "originator_id": str(stored.originator_id),
                "originator_version": stored.originator_version,
                "recorded_us": clock + offset,
            }
            for offset, (position, stored) in enumerate(zip(positions, stored_events, strict=True))
        ]
        self._written.recorded = {row["position"]: row["recorded_us"] for row in rows}
        return rows

    def _idempotency_row(
        self, retry: Mapping[str, Any], index_rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        last = index_rows[-1]
        return {
            **retry,
            "version": last["originator_version"],
            "position": last["position"],
            "recorded_us": last["recorded_us"],
        }

    def _insert_postgresql(
        self,
        session: Session,
        stored_events: Sequence[StoredEvent],
        retry: Mapping[str, Any] | None,
    ) -> list[int]:
        """The same rows as the generic path, in two statements (ledger/adapters/pg_write.py).

        1. lock the events table; then, in one SELECT: the next positions, the
           last recorded time, the Merkle log's write state and the NOTIFY;
        2. insert the events, index rows, leaves, nodes and the idempotency
           row, in one statement of data-modifying CTEs.

        With the driver's BEGIN and the COMMIT, four round trips per write.
        """
        conn = session.connection()
        streams = stream_list(stored_events)
        read = self._pg.lock_and_read(conn.dialect, stored_events, streams)
        row = conn.exec_driver_sql(*read).one()
        if row[0] is None:
            # The library's insert would fail on the stream's version key; this
            # way no position is taken from the sequence for nothing.
            raise IntegrityError("a stream moved past the version these events follow")
        positions = sorted(int(p) for p in row[0])
        rows = self._index_rows(stored_events, positions, row[1])
        last, heads = self.integrity.write_state(conn, streams, row[3:])
        leaves, nodes, _ = self.integrity.plan(
            conn,
            stored_events,
            positions,
            [r["recorded_us"] for r in rows],
            last,
            heads,
        )
        keyed = [] if retry is None else [self._idempotency_row(retry, rows)]
        conn.exec_driver_sql(
            *self._pg.insert_all(
                stored_events,
                positions,
                rows,
                leaves,
                nodes,
                keyed,
                sealed_rows(stored_events),
                codes=self.key_codes.rows(conn, rows, keyed[0] if keyed else None),
                index_codes=self.index_codes.rows(conn, rows),
            )
        )
        return positions

    def idempotent_write(self, actor: str, key: str) -> Mapping[str, Any] | None:
        """The row, if its key code vouches for it (else ``IdempotencyTampered``, naming it)."""
        with self._connect() as conn:
            return self.key_codes.checked_row(conn, actor, key)

    def sealed_texts(self, originator_id: str, first: int, last: int) -> dict[tuple[int, str], str]:
        """The stored words of a stream's sealed fields, versions first..last: one query."""
        t = self.sealed.c
        with self._connect() as conn:
            rows = conn.execute(
                select(t.originator_version, t.field, t.text).where(
                    t.originator_id == originator_id,
                    t.originator_version.between(first, last),
                )
            ).all()
        return {(int(v), str(f)): str(text) for v, f, text in rows}

    def sealed_field(self, event_id: str, field: str) -> dict[str, Any] | None:
        """The sealed-text row of one event's field (None: not stored, or erased)."""
        t = self.sealed
        with self._connect() as conn:
            row = (
                conn.execute(select(t).where(t.c.event_id == event_id, t.c.field == field))
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    def events_with_topics(
        self, originator_ids: Sequence[UUID], topics: Sequence[str]
    ) -> list[StoredEvent]:
        """The streams' events of these topics, by stream then version, in one indexed query."""
        records = self.events_record_cls
        with self.transaction(commit=False) as session:
            rows = (
                session.query(
                    records.originator_id,
                    records.originator_version,
                    records.topic,
                    records.state,
                )
                .filter(records.originator_id.in_(originator_ids), records.topic.in_(topics))
                .order_by(records.originator_id, records.originator_version)
                .all()
            )
        return [
            StoredEvent(
                row.originator_id,
                row.originator_version,
                row.topic,
                bytes(row.state) if isinstance(row.state, memoryview) else row.state,
            )
            for row in rows
        ]


class LedgerDatastore(SQLAlchemyDatastore):
    """The library's datastore, with an engine that never logs statement parameters.

    SQLAlchemy puts a failed statement's parameters in the exception text,
    which the server logs: an event's personal data, an idempotency key, a
    token's hash. ``hide_parameters`` keeps the statement and drops the values.
    """

    def __init__(self, **kwargs: Any) -> None:
        url = kwargs.get("url")
        if url and "creator" not in kwargs:
            kwargs.setdefault("hide_parameters", True)
        super().__init__(**kwargs)


class Factory(SQLAlchemyFactory):
    """``PERSISTENCE_MODULE=ledger.adapters.recorder`` selects this factory."""

    datastore_class = LedgerDatastore
    application_recorder_class = LedgerRecorder
