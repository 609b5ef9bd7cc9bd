"""The Merkle log and hash chains, persisted in the event store's own transaction.

Two tables beside the events (``<app>`` is the events table name without
``_events``):

* ``<app>_event_hashes`` — one row per event: its position, its leaf index
  (rank in log order, dense from 0), its stream, the hash of its predecessor
  in the stream (the chain; empty for a stream's first event) and its leaf
  hash (RFC 9162 level 0);
* ``<app>_merkle_nodes`` — one row per complete subtree above the leaves,
  ``(level, idx) -> hash``, written once, when its last leaf arrives.

:meth:`IntegrityLog.append` runs inside ``LedgerRecorder._insert_stored_events``
after the events and their recorded times are written, under the same
events-table lock, so a position, its leaf and the nodes it completes commit
or roll back together, and leaves are appended in exactly the log order. Per
write it makes two reads (one statement of scalar lookups, one of at most 64
right-edge nodes), then two inserts of about 2 rows per event: O(log n).

Proofs and roots for any size are O(log n) reads of stored nodes
(:class:`StoredNodes` is the :class:`~ledger.integrity.merkle.NodeSource`).
:func:`ledger.integrity.audit.audit` recomputes every leaf, chain and node
from the events themselves and names the first position that does not match.

Wiring (ledger/adapters/recorder.py), see docs/integrity.md::

    class LedgerRecorder(IntegrityRecorderMixin, SQLAlchemyApplicationRecorder):
        ...
        session.execute(self.index.insert(), rows)
        self._record_integrity(session, stored_events, rows)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from eventsourcing.persistence import StoredEvent
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    SmallInteger,
    String,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from ledger.integrity.leaf import encode_leaf, stream_text
from ledger.integrity.merkle import (
    CompactRange,
    NodeID,
    TreeSizeError,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    range_nodes,
    root_plan,
)

_BIG = BigInteger().with_variant(Integer(), "sqlite")
_HASH = LargeBinary(32)
#: Scalar look-ups per statement when finding the chain heads of a batch's streams.
_HEADS_PER_STATEMENT = 100
#: Rows per page when the audit scans the log (bounded memory at any size).
_PAGE = 2000

Reader = Connection | Session


class IntegrityLogBehind(RuntimeError):
    """Events exist that the Merkle log does not cover: written outside the ledger."""


class TreeHead(NamedTuple):
    size: int
    root: bytes


class IntegrityLog:
    """The persisted Merkle log of one application's events table."""

    def __init__(self, events: Table, metadata: MetaData | None = None) -> None:
        self.events = events
        base = events.name.removesuffix("_events")
        metadata = metadata or MetaData()
        leaves_name = f"{base}_event_hashes"
        self.leaves = Table(
            leaves_name,
            metadata,
            Column("position", _BIG, primary_key=True, autoincrement=False),
            Column("leaf_index", _BIG, nullable=False),
            Column("originator_id", String(36), nullable=False),
            Column("previous_hash", _HASH, nullable=False),
            Column("leaf_hash", _HASH, nullable=False),
            Index(f"{leaves_name}_leaf_index", "leaf_index", unique=True),
            Index(f"{leaves_name}_stream", "originator_id", "leaf_index"),
        )
        self.nodes = Table(
            f"{base}_merkle_nodes",
            metadata,
            Column("level", SmallInteger, primary_key=True, autoincrement=False),
            Column("idx", _BIG, primary_key=True, autoincrement=False),
            Column("hash", _HASH, nullable=False),
        )
        self.tables = [self.leaves, self.nodes]
        #: The right edge after this process's last append, keyed by (size, last leaf hash):
        #: if no other writer came between, the next append need not read it again.
        self._edge_cache: tuple[int, bytes, tuple[bytes, ...]] | None = None
        self._state_queries: dict[int, Select[Any]] = {}

    # -- writing (inside the events transaction, under its lock) -----------------

    def append(
        self,
        session: Reader,
        stored_events: Sequence[StoredEvent],
        positions: Sequence[int],
        recorded_us: Sequence[int],
    ) -> TreeHead:
        """Add these just-inserted events to the log; return the new tree head.

        Must run in the transaction that inserted them, after the events table
        lock is taken, with their positions and recorded times in log order.
        Refuses (:class:`IntegrityLogBehind`) if an earlier event is missing
        from the tree: it was not written by the ledger, and silently hashing
        it in would make it look legitimate.
        """
        if not stored_events:
            return self.tree_head(session)
        if not len(stored_events) == len(positions) == len(recorded_us):
            raise ValueError("one position and one recorded time per event")
        conn = session.connection() if isinstance(session, Session) else session
        streams = list(dict.fromkeys(stream_text(e.originator_id) for e in stored_events))
        last, heads = self._write_state(conn, positions[0], streams)
        size = 0 if last is None else last["leaf_index"] + 1
        edge = CompactRange(size, self._edge_hashes(conn, size, last))
        leaf_rows: list[dict[str, Any]] = []
        node_rows: list[dict[str, Any]] = []
        for stored, position, recorded in zip(stored_events, positions, recorded_us, strict=True):
            stream = stream_text(stored.originator_id)
            previous = heads.get(stream, b"")
            leaf = leaf_hash(
                encode_leaf(
                    position,
                    stream,
                    stored.originator_version,
                    stored.topic,
                    recorded,
                    previous,
                    stored.state,
                )
            )
            heads[stream] = leaf
            leaf_rows.append(
                {
                    "position": position,
                    "leaf_index": edge.size,
                    "originator_id": stream,
                    "previous_hash": previous,
                    "leaf_hash": leaf,
                }
            )
            for node, value in edge.append(leaf)[1:]:
                node_rows.append({"level": node.level, "idx": node.index, "hash": value})
        conn.execute(self.leaves.insert(), leaf_rows)
        if node_rows:
            conn.execute(self.nodes.insert(), node_rows)
        # Safe even if this transaction rolls back: the next append's size or
        # last leaf will not match, and it reads the edge from the database.
        self._edge_cache = (edge.size, leaf_rows[-1]["leaf_hash"], edge.hashes)
        return TreeHead(edge.size, edge.root())

    def _write_state(
        self, conn: Connection, first_position: int, streams: list[str]
    ) -> tuple[Mapping[str, Any] | None, dict[str, bytes]]:
        """The last leaf, the guard and each stream's chain head: one statement, O(log n) each."""
        first = streams[:_HEADS_PER_STATEMENT]
        params = {"first_position": first_position, **{f"s{i}": s for i, s in enumerate(first)}}
        row = conn.execute(self._state_query(len(first)), params).one()
        leaf_index, position, hash_, prior = row[:4]
        heads = {s: bytes(h) for s, h in zip(first, row[4:], strict=True) if h is not None}
        for start in range(_HEADS_PER_STATEMENT, len(streams), _HEADS_PER_STATEMENT):
            chunk = streams[start : start + _HEADS_PER_STATEMENT]
            query = select(*(self._head(i) for i in range(len(chunk))))
            more = conn.execute(query, {f"s{i}": s for i, s in enumerate(chunk)}).one()
            heads.update({s: bytes(h) for s, h in zip(chunk, more, strict=True) if h is not None})
        if prior != position:
            covered = "no events" if position is None else f"events up to position {position}"
            raise IntegrityLogBehind(
                f"the Merkle log covers {covered}, but the events table has an event at "
                f"position {prior} that it does not: not written by the ledger (run "
                "`qp-ledger verify`; a database from before the Merkle log needs a backfill)"
            )
        if leaf_index is None:
            return None, heads
        return {"leaf_index": int(leaf_index), "position": position, "leaf_hash": hash_}, heads

    def _state_query(self, streams: int) -> Select[Any]:
        """Built once per number of streams (bound parameters): statements cost more than rows."""
        query = self._state_queries.get(streams)
        if query is None:
            lv, ev = self.leaves.c, self.events.c
            last = (
                select(lv.leaf_index, lv.position, lv.leaf_hash)
                .order_by(lv.leaf_index.desc())
                .limit(1)
                .subquery()
            )
            # Not max(id): SQLite scans every earlier row for a max() with a WHERE.
            prior = (
                select(ev.id)
                .where(ev.id < bindparam("first_position"))
                .order_by(ev.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            query = select(
                select(last.c.leaf_index).scalar_subquery(),
                select(last.c.position).scalar_subquery(),
                select(last.c.leaf_hash).scalar_subquery(),
                prior,
                *(self._head(i) for i in range(streams)),
            )
            self._state_queries[streams] = query
        return query

    def _head(self, i: int) -> Any:
        lv = self.leaves.c
        return (
            select(lv.leaf_hash)
            .where(lv.originator_id == bindparam(f"s{i}"))
            .order_by(lv.leaf_index.desc())
            .limit(1)
            .scalar_subquery()
        )

    def _edge_hashes(
        self, session: Reader, size: int, last: Mapping[str, Any] | None
    ) -> list[bytes]:
        cached = self._edge_cache
        if (
            cached is not None
            and last is not None
            and cached[:2] == (size, bytes(last["leaf_hash"]))
        ):
            return list(cached[2])
        edge = range_nodes(0, size)
        found = dict(StoredNodes(self, session, leaves=False).get_nodes(edge))
        if last is not None and size & 1:  # an odd size ends with a lone leaf
            found[NodeID(0, size - 1)] = bytes(last["leaf_hash"])
        try:
            return [found[node] for node in edge]
        except KeyError as e:
            raise IntegrityLogBehind(f"Merkle node {e.args[0]} is missing") from None

    # -- reading ---------------------------------------------------------------------

    def tree_size(self, reader: Reader) -> int:
        last = reader.execute(select(func.max(self.leaves.c.leaf_index))).scalar()
        return 0 if last is None else int(last) + 1

    def tree_head(self, reader: Reader, size: int | None = None) -> TreeHead:
        """Size and root of the current tree, or of the tree at an earlier ``size``."""
        size = self._size(reader, size)
        return TreeHead(size, root_plan(size).fetch(StoredNodes(self, reader))[0])

    def size_at_position(self, reader: Reader, position: int) -> int:
        """How many leaves the log had once ``position`` was written (for decisions)."""
        lv = self.leaves.c
        index = reader.execute(
            select(lv.leaf_index)
            .where(lv.position <= position)
            .order_by(lv.position.desc())
            .limit(1)
        ).scalar()
        return 0 if index is None else int(index) + 1

    def leaf_index(self, reader: Reader, position: int) -> int:
        lv = self.leaves.c
        index = reader.execute(select(lv.leaf_index).where(lv.position == position)).scalar()
        if index is None:
            raise TreeSizeError(f"position {position} is not in the Merkle log")
        return int(index)

    def leaf_bytes(self, reader: Reader, position: int, recorded: Table) -> bytes:
        """The canonical leaf of the event at ``position``, rebuilt from its stored row."""
        query = self.stored_leaves(recorded).where(self.events.c.id == position)
        row = reader.execute(query).first()
        if row is None:
            raise TreeSizeError(f"position {position} is not in the Merkle log")
        return stored_leaf(row)

    def stored_leaves(self, recorded: Table) -> Select[Any]:
        """Each event with its leaf index and what its canonical leaf is built from.

        One query for every reader that rebuilds leaves (proofs, bundles), so
        the columns and :func:`stored_leaf`'s order of them cannot drift apart.
        """
        ev, lv = self.events.c, self.leaves.c
        return (
            select(
                lv.leaf_index,
                ev.id,
                ev.originator_id,
                ev.originator_version,
                ev.topic,
                ev.state,
                recorded.c.recorded_us,
                lv.previous_hash,
            )
            .join_from(self.leaves, self.events, ev.id == lv.position)
            .join(recorded, recorded.c.position == lv.position)
        )

    def inclusion_proof(
        self, reader: Reader, leaf_index: int, size: int | None = None
    ) -> list[bytes]:
        size = self._size(reader, size)
        return inclusion_plan(leaf_index, size).fetch(StoredNodes(self, reader))

    def consistency_proof(
        self, reader: Reader, size1: int, size2: int | None = None
    ) -> list[bytes]:
        size2 = self._size(reader, size2)
        return consistency_plan(size1, size2).fetch(StoredNodes(self, reader))

    def _size(self, reader: Reader, size: int | None) -> int:
        current = self.tree_size(reader)
        if size is None:
            return current
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= current:
            raise TreeSizeError(f"tree size {size!r} is not in [0, {current}]")
        return size

    # -- a log written before the Merkle log existed -------------------------------------

    def backfill(self, session: Session, recorded: Table) -> int:
        """Hash every event into an *empty* tree (a one-off upgrade); return how many.

        Call under the events-table lock. A tree that already has leaves is
        never extended this way: events after it were not written by the ledger.
        """
        if self.tree_size(session):
            raise IntegrityLogBehind("the Merkle log is not empty; backfill is only for upgrades")
        count = 0
        for page in scan_pages(session, self.event_rows(recorded), self.events.c.id):
            events = [
                StoredEvent(r.originator_id, r.originator_version, r.topic, bytes(r.state))
                for r in page
            ]
            if any(r.recorded_us is None for r in page):
                raise IntegrityLogBehind("an event has no recorded time")
            self.append(session, events, [r.id for r in page], [r.recorded_us for r in page])
            count += len(page)
        return count

    def event_rows(self, recorded: Table, raw_ids: bool = False) -> Select[Any]:
        """Every event with its recorded time (None if its index row is gone), by position.

        ``raw_ids`` leaves stream ids as the driver returns them (a 16-byte
        value on SQLite, a UUID on PostgreSQL), skipping per-row conversion.
        """
        ev = self.events.c
        originator = type_coerce(ev.originator_id, NullType()) if raw_ids else ev.originator_id
        return select(
            ev.id,
            originator,
            ev.originator_version,
            ev.topic,
            ev.state,
            recorded.c.recorded_us,
        ).outerjoin_from(self.events, recorded, recorded.c.position == ev.id)


def stored_leaf(row: Any) -> bytes:
    """The canonical leaf of a :meth:`IntegrityLog.stored_leaves` row."""
    _, position, stream, version, topic, state, recorded_us, previous = row
    return encode_leaf(
        position, stream_text(stream), version, topic, recorded_us, bytes(previous), bytes(state)
    )


class StoredNodes:
    """Complete subtree hashes from the database: level 0 from leaves, the rest from nodes."""

    def __init__(self, log: IntegrityLog, reader: Reader, leaves: bool = True) -> None:
        self.log, self.reader, self.leaves = log, reader, leaves

    def get_nodes(self, ids: Sequence[NodeID]) -> Mapping[NodeID, bytes]:
        found: dict[NodeID, bytes] = {}
        by_level: dict[int, list[int]] = {}
        for node in ids:
            by_level.setdefault(node.level, []).append(node.index)
        lv, nv = self.log.leaves.c, self.log.nodes.c
        if self.leaves and 0 in by_level:
            rows = self.reader.execute(
                select(lv.leaf_index, lv.leaf_hash).where(lv.leaf_index.in_(by_level[0]))
            )
            found.update({NodeID(0, int(i)): bytes(h) for i, h in rows})
        upper = [
            and_(nv.level == level, nv.idx.in_(indices))
            for level, indices in by_level.items()
            if level > 0
        ]
        if upper:
            rows = self.reader.execute(select(nv.level, nv.idx, nv.hash).where(or_(*upper)))
            found.update({NodeID(int(lvl), int(i)): bytes(h) for lvl, i, h in rows})
        return found


def scan(reader: Reader, query: Select[Any], key: Any) -> Iterator[Any]:
    """Rows of ``query`` in ``key`` order (``key`` selected first), fetched a page at a time.

    Keyset paging: bounded memory and no server-side cursor held open, on
    SQLite and PostgreSQL alike.
    """
    for page in scan_pages(reader, query, key):
        yield from page


def scan_pages(reader: Reader, query: Select[Any], key: Any) -> Iterator[Sequence[Any]]:
    """:func:`scan`, a page (a list of rows) at a time."""
    last = None
    while True:
        page_query = query if last is None else query.where(key > last)
        page = reader.execute(page_query.order_by(key).limit(_PAGE)).all()
        if page:
            yield page
        if len(page) < _PAGE:
            return
        last = page[-1][0]


class IntegrityRecorderMixin:
    """Put first in ``LedgerRecorder``'s bases; call :meth:`_record_integrity` after the index.

    The whole change to ledger/adapters/recorder.py (see docs/integrity.md)::

        class LedgerRecorder(IntegrityRecorderMixin, SQLAlchemyApplicationRecorder):
            ...
            session.execute(self.index.insert(), rows)
            self._record_integrity(session, stored_events, rows)


    Adds the two integrity tables to the recorder (created with the others)
    and exposes the log as ``self.integrity``.
    """

    integrity: IntegrityLog
    tables: list[Table]
    events_record_cls: Any
    index: Table  # LedgerRecorder's recorded-time index

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.integrity = IntegrityLog(self.events_record_cls.__table__)
        self.tables += self.integrity.tables

    def _record_integrity(
        self,
        session: Session,
        stored_events: Sequence[StoredEvent],
        index_rows: Sequence[Mapping[str, Any]],
    ) -> TreeHead:
        """Hash the events just inserted into the log, in their transaction.

        ``index_rows`` are the recorded-time index rows written for them, one
        per event in order (``position`` and ``recorded_us`` are used).
        """
        positions = [int(row["position"]) for row in index_rows]
        recorded_us = [int(row["recorded_us"]) for row in index_rows]
        return self.integrity.append(session, stored_events, positions, recorded_us)

    def backfill_integrity(self) -> int:
        """One-off upgrade: hash a log written before the Merkle log existed, under the lock."""
        recorder: Any = self
        with recorder.transaction(commit=True) as session:
            recorder._lock_table(session)
            return self.integrity.backfill(session, self.index)
