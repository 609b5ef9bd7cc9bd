"""A write on PostgreSQL in two statements: lock and read, then insert everything.

A network round trip costs more than the rows it carries, so
:class:`~ledger.adapters.recorder.LedgerRecorder` sends a write's statements
fused (docs/storage.md, "What a write costs"):

1. ``LOCK TABLE <events> IN EXCLUSIVE MODE; SELECT ...``: psycopg2 sends a
   string of several statements in one round trip and returns the last
   one's rows. The SELECT, run under the lock, takes the next positions from
   the events table's sequence (no other writer can take one meanwhile, so
   they are the ones the library's own insert would have been given) --
   unless a stream has moved past the version the events follow, when it
   takes none and the write is retried on fresh state (no gap) --, reads
   the last recorded time and the Merkle log's write state, and queues the
   ``NOTIFY`` that wakes subscribers at commit (``pg_notify``, what the
   library's ``NOTIFY`` does).
2. ``WITH e AS (INSERT events), i AS (INSERT index), ... INSERT ...``: the
   events with those positions, their index rows, leaves, Merkle nodes and
   the idempotency row, as data-modifying CTEs of one statement. A unique
   violation anywhere (a stream version or key taken meanwhile) fails the
   statement, and the transaction with it.

The rows are exactly those of the generic path (same positions, recorded
times, leaves), so which path wrote a log cannot be told from the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Integer, Table, and_, bindparam, case, func, select
from sqlalchemy.engine import Dialect

from ledger.integrity.log import AFTER_ALL, IntegrityLog, write_state_params

_EVENT_COLUMNS = ("id", "originator_id", "originator_version", "topic", "state")
_SEALED_COLUMNS = (
    "originator_id",
    "originator_version",
    "field",
    "event_id",
    "digest",
    "salt",
    "text",
)


class PostgresWrite:
    """The two statements of a write, built for one recorder's tables."""

    def __init__(
        self,
        events_table_name: str,
        channel_name: str,
        index: Table,
        integrity: IntegrityLog,
        idempotency: Table,
    ) -> None:
        self.events_table_name = events_table_name
        self.channel_name = channel_name
        self.index = index
        self.integrity = integrity
        self.idempotency = idempotency
        self.sealed_table = events_table_name.removesuffix("_events") + "_sealed_text"
        #: Compiled read statements by number of streams (1..100): compiling costs CPU.
        self._reads: dict[int, tuple[str, dict[str, Any]]] = {}

    def lock_and_read(
        self, dialect: Dialect, stored_events: Sequence[StoredEvent], streams: Sequence[str]
    ) -> tuple[str, dict[str, Any]]:
        """Statement 1; its row is (positions, last recorded time, notify, write state ...).

        The positions are NULL, and none is taken from the sequence, when one
        of the (first 100) streams is no longer at the version the events
        follow: the writer held a record another process moved on, and will
        retry on the log's state without leaving a gap in the positions.
        """
        write_state = write_state_params(streams)
        cached = self._reads.get(len(write_state))
        if cached is None:
            cached = self._reads[len(write_state)] = self._compile_read(dialect, len(write_state))
        sql, defaults = cached
        follows: dict[str, int] = {}
        for e in stored_events:
            follows.setdefault(str(e.originator_id), e.originator_version - 1)
        versions = {f"v{i}": follows[s] for i, s in enumerate(streams[: len(write_state)])}
        return sql, {
            **defaults,
            "qp_events": len(stored_events),
            "first_position": AFTER_ALL,
            **write_state,
            **versions,
        }

    def _compile_read(self, dialect: Dialect, streams: int) -> tuple[str, dict[str, Any]]:
        r = self  # the tables
        sequence = func.pg_get_serial_sequence(r.events_table_name, "id")
        idx = r.index.c
        current = and_(
            *(
                func.coalesce(
                    select(func.max(idx.originator_version))
                    .where(idx.originator_id == bindparam(f"s{i}"))
                    .scalar_subquery(),
                    0,
                )
                == bindparam(f"v{i}", type_=Integer)
                for i in range(streams)
            )
        )
        count = case((current, bindparam("qp_events", type_=Integer)), else_=0)
        taken = (
            select(func.nextval(sequence).label("v"))
            .select_from(func.generate_series(1, count))
            .subquery()
        )
        positions = select(func.array_agg(taken.c.v)).scalar_subquery()
        last_recorded = (
            select(r.index.c.recorded_us)
            .order_by(r.index.c.position.desc())
            .limit(1)
            .scalar_subquery()
        )
        notify = func.pg_notify(r.channel_name, "")
        state = r.integrity.write_state_query(streams)
        query = select(positions, last_recorded, notify, *state.selected_columns)
        compiled = query.compile(dialect=dialect)
        lock = f'LOCK TABLE "{r.events_table_name}" IN EXCLUSIVE MODE; '
        per_write: dict[str, Any] = {"qp_events": 0, "first_position": 0}
        per_write.update({f"s{i}": "" for i in range(streams)})
        per_write.update({f"v{i}": 0 for i in range(streams)})
        return lock + compiled.string, dict(compiled.construct_params(per_write))

    def insert_all(
        self,
        stored_events: Sequence[StoredEvent],
        positions: Sequence[int],
        index_rows: Sequence[Mapping[str, Any]],
        leaves: Sequence[Mapping[str, Any]],
        nodes: Sequence[Mapping[str, Any]],
        keyed: Sequence[Mapping[str, Any]],
        sealed: Sequence[Mapping[str, Any]] = (),
        *,
        codes: Sequence[Mapping[str, Any]] = (),
        index_codes: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[str, tuple[Any, ...]]:
        """Statement 2: every row of the write, one INSERT per table, in one statement."""
        r = self  # the tables
        events = [
            {
                "id": position,
                "originator_id": str(e.originator_id),
                "originator_version": e.originator_version,
                "topic": e.topic,
                "state": e.state,
            }
            for position, e in zip(positions, stored_events, strict=True)
        ]
        params: list[Any] = []
        inserts = [
            _values(r.events_table_name, _EVENT_COLUMNS, events, params, uuid="originator_id"),
            _values(r.index.name, tuple(r.index.c.keys()), index_rows, params),
            _values(r.integrity.leaves.name, tuple(r.integrity.leaves.c.keys()), leaves, params),
        ]
        if nodes:
            columns = tuple(r.integrity.nodes.c.keys())
            inserts.append(_values(r.integrity.nodes.name, columns, nodes, params))
        if keyed:
            columns = tuple(r.idempotency.c.keys())
            inserts.append(_values(r.idempotency.name, columns, keyed, params))
        if sealed:
            # The words of erasable fields (ledger/adapters/sealing.py), beside their events.
            inserts.append(_values(r.sealed_table, _SEALED_COLUMNS, sealed, params))
        if codes:
            # One key code per event (ledger/adapters/key_codes.py).
            name = r.events_table_name.removesuffix("_events") + "_key_codes"
            inserts.append(_values(name, ("position", "tag", "mac"), codes, params))
        if index_codes:
            # One index code per index row (ledger/adapters/index_codes.py).
            name = r.events_table_name.removesuffix("_events") + "_index_codes"
            inserts.append(_values(name, ("position", "mac"), index_codes, params))
        ctes = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(inserts[:-1]))
        return f"WITH {ctes} {inserts[-1]}", tuple(params)


def _values(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    params: list[Any],
    uuid: str = "",
) -> str:
    """``INSERT INTO table (...) VALUES (...), ...``; appends the rows' values to ``params``."""
    one = "(" + ", ".join("%s::uuid" if c == uuid else "%s" for c in columns) + ")"
    for row in rows:
        params.extend(row[c] for c in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join([one] * len(rows))
