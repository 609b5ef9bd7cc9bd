"""The Merkle log, written in the event store's own transaction, and the proofs read from it.

:meth:`IntegrityLog.append` runs inside ``LedgerRecorder._insert_stored_events``
(through :class:`ledger.integrity.store_integration.IntegrityRecorderMixin`)
after the events and their recorded times are written, under the same
events-table lock, so a position, its leaf and the nodes it completes commit
or roll back together, and leaves are appended in exactly the log order. Per
write it makes two reads (one statement of scalar lookups, one of at most 64
right-edge nodes, skipped when this process wrote last), then two inserts of
about 2 rows per event: O(log n). On PostgreSQL the store sends the lookups
with its lock and the rows with its events, in one statement each
(:meth:`IntegrityLog.write_state_query`, :meth:`IntegrityLog.plan`).

Proofs and roots for any size are O(log n) reads of stored nodes
(:class:`~ledger.integrity.nodes.StoredNodes`). :func:`ledger.integrity.audit.audit`
recomputes every leaf, chain and node from the events themselves and names
the first position that does not match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, MetaData, Select, Table, bindparam, func, select
from sqlalchemy.orm import Session

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
from ledger.integrity.nodes import StoredNodes
from ledger.integrity.tables import IntegrityTables, Reader, stored_leaf

#: Scalar look-ups per statement when finding the chain heads of a batch's streams.
_HEADS_PER_STATEMENT = 100

#: ``first_position`` for a write state read before the events are inserted.
AFTER_ALL = 2**63 - 1


def stream_list(stored_events: Sequence[StoredEvent]) -> list[str]:
    """The batch's streams, each once, in order of first appearance."""
    return list(dict.fromkeys(stream_text(e.originator_id) for e in stored_events))


def write_state_params(streams: Sequence[str]) -> dict[str, str]:
    """Bind values of the chain-head look-ups of :meth:`IntegrityLog.write_state_query`."""
    return {f"s{i}": s for i, s in enumerate(streams[:_HEADS_PER_STATEMENT])}


class IntegrityLogBehind(RuntimeError):
    """Events exist that the Merkle log does not cover: written outside the ledger."""


class TreeHead(NamedTuple):
    size: int
    root: bytes


class IntegrityLog(IntegrityTables):
    """The persisted Merkle log of one application's events table."""

    def __init__(self, events: Table, metadata: MetaData | None = None) -> None:
        super().__init__(events, metadata)
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
        streams = stream_list(stored_events)
        last, heads = self._write_state(conn, positions[0], streams)
        leaf_rows, node_rows, head = self.plan(
            conn, stored_events, positions, recorded_us, last, heads
        )
        conn.execute(self.leaves.insert(), leaf_rows)
        if node_rows:
            conn.execute(self.nodes.insert(), node_rows)
        return head

    def plan(
        self,
        conn: Connection,
        stored_events: Sequence[StoredEvent],
        positions: Sequence[int],
        recorded_us: Sequence[int],
        last: Mapping[str, Any] | None,
        heads: dict[str, bytes],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], TreeHead]:
        """The leaf and node rows these events add, and the new tree head; nothing written.

        ``last`` and ``heads`` are :meth:`write_state`'s answer, read under the
        lock. Separate from the inserts so that a store can send the rows in
        the statement that inserts the events (one round trip, see
        ledger/adapters/recorder.py); it reads only the right-edge nodes, and
        only when this process was not the last writer.
        """
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
        # Safe even if this transaction rolls back: the next append's size or
        # last leaf will not match, and it reads the edge from the database.
        self._edge_cache = (edge.size, leaf_rows[-1]["leaf_hash"], edge.hashes)
        return leaf_rows, node_rows, TreeHead(edge.size, edge.root())

    def write_state(
        self, conn: Connection, streams: list[str], row: Sequence[Any]
    ) -> tuple[Mapping[str, Any] | None, dict[str, bytes]]:
        """Parse :meth:`write_state_query`'s row (and read any further chain heads)."""
        return self._write_state(conn, 0, streams, row)

    def write_state_query(self, streams: int) -> Select[Any]:
        """The write state of the first ``streams`` (at most 100) streams, as one SELECT.

        For a store that reads it together with its own values, before it
        inserts the events: bind ``first_position`` to :data:`AFTER_ALL` and
        the streams with :func:`write_state_params`.
        """
        return self._state_query(min(streams, _HEADS_PER_STATEMENT))

    def _write_state(
        self,
        conn: Connection,
        first_position: int,
        streams: list[str],
        row: Sequence[Any] | None = None,
    ) -> tuple[Mapping[str, Any] | None, dict[str, bytes]]:
        """The last leaf, the guard and each stream's chain head: one statement, O(log n) each.

        ``row``: the answer to :meth:`write_state_query` when the caller sent it
        fused into a statement of its own (then ``first_position`` is unused:
        the caller's events are not inserted yet, every event is before them).
        """
        first = streams[:_HEADS_PER_STATEMENT]
        if row is None:
            params = {"first_position": first_position, **write_state_params(first)}
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
                f"position {prior} that it does not: it was not written by the ledger. Writes "
                "are refused until that is resolved; `qp-ledger verify` names the event"
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
