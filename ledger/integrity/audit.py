"""``qp-ledger verify``: recompute every leaf, chain and node from the events themselves.

The stored hashes are the operator's claim; the events are what a replay
uses. :func:`audit` rebuilds the leaf of every event (and so every stream's
chain) from the event rows and their recorded times, compares each with the
stored leaf, checks every stored Merkle node against the tree those leaves
make, and — given a checkpoint the auditor kept — checks the events' own
tree at that size has the checkpoint's root. It reports every mismatch (up
to a limit) and names the first position that does not match:

* an edited payload, topic or recorded time: that event's position;
* a deleted event: the position its leaf still records;
* an inserted event: its position (it has no leaf);
* swapped events: the earlier of the two;
* an operator who rewrote the events *and* every hash consistently: only a
  checkpoint published before can show it, and the audit says so.

The read path is built for speed (it is what bench/verify_throughput.py
measures): one streamed query of events ⟕ recorded times ⟕ stored leaves in
position order, read a page at a time from the driver's own cursor (no ORM
or ``Row`` objects; a server-side cursor on PostgreSQL), the leaf encoding and
the tree inlined in one loop, and the stored nodes streamed level by level
(one cursor per level, in index order) and compared as the recomputed tree
completes them. Each event, leaf and node row is read once; memory is
bounded by the page size and the number of streams.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, String, Table, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from ledger.integrity.checkpoint import Checkpoint
from ledger.integrity.leaf import FORMAT_TAG, stream_text
from ledger.integrity.merkle import EMPTY_ROOT, NodeID, fold
from ledger.integrity.store_integration import IntegrityLog, Reader

#: The audit keeps going after a problem, but lists at most this many.
MAX_PROBLEMS = 100
#: Rows fetched from the driver at a time (events, and stored nodes per level).
PAGE = 5000

_U32 = struct.Struct(">I").pack
_U64_FIELD = struct.Struct(">IQ").pack
#: 0x00 (RFC 9162 leaf prefix) then field 1, the format tag, of every leaf.
_LEAF_HEAD = b"\x00" + _U32(len(FORMAT_TAG)) + FORMAT_TAG
_NO_PREVIOUS = _U32(0)
_PREVIOUS = _U32(32)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Problem:
    """One mismatch: the position (when an event is at fault) and what is wrong."""

    position: int | None
    leaf_index: int | None
    what: str

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "log"
        return f"{where}: {self.what}"


@dataclass
class AuditReport:
    """What :func:`audit` found: the recomputed tree head and every mismatch."""

    size: int = 0
    root: bytes = b""
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    checkpoint: Checkpoint | None = None
    #: Positions covered (the last one at the start; 0 for an empty log) and streams seen.
    last_position: int = 0
    streams: int = 0
    #: Stored Merkle nodes compared with the recomputed tree.
    nodes_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_position(self) -> int | None:
        positions = [p.position for p in self.problems if p.position is not None]
        return min(positions) if positions else None

    def flag(self, position: int | None, leaf_index: int | None, what: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(position, leaf_index, what))
        else:
            self.more_problems += 1


def audit(
    log: IntegrityLog,
    reader: Reader,
    recorded: Table,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Recompute the log from its events and report what differs from the stored hashes.

    ``recorded`` is the recorded-time index (``LedgerRecorder.index``).
    ``checkpoint`` must already be signature-checked. ``progress`` is called
    with the number of events after each page. Safe beside live writers: it
    covers the events up to the last position at its start, because an
    event, its leaf and its nodes commit together and in position order.
    """
    conn = reader.connection() if isinstance(reader, Session) else reader
    report = AuditReport(checkpoint=checkpoint)
    ev, lv = log.events.c, log.leaves.c
    last_event, last_leaf = conn.execute(
        select(
            select(func.max(ev.id)).scalar_subquery(),
            select(func.max(lv.position)).scalar_subquery(),
        )
    ).one()
    bound = max(int(last_event or 0), int(last_leaf or 0))
    report.last_position = bound
    prefix_root = _Audit(log, conn, recorded, bound, report, checkpoint, progress).run()
    if checkpoint is not None:
        if prefix_root is None:
            report.flag(
                None,
                None,
                f"the checkpoint has {checkpoint.size} events, the log "
                f"only {report.size}: events were removed",
            )
        elif prefix_root != checkpoint.root:
            report.flag(
                None,
                None,
                f"the first {checkpoint.size} events do not hash to the "
                "checkpoint's root: the log is not an extension of it",
            )
    return report


def _sql(conn: Connection, query: Select[Any]) -> str:
    """A Core statement as the driver's SQL text (its only parameters are integers)."""
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


class _Audit:
    """One pass over the log; see the module docstring."""

    def __init__(
        self,
        log: IntegrityLog,
        conn: Connection,
        recorded: Table,
        bound: int,
        report: AuditReport,
        checkpoint: Checkpoint | None,
        progress: Progress | None,
    ) -> None:
        self.log, self.conn, self.recorded, self.bound = log, conn, recorded, bound
        self.report, self.progress = report, progress
        self.at = None if checkpoint is None else checkpoint.size
        self.dbapi: Any = conn.connection.dbapi_connection
        self.server_side = conn.dialect.name == "postgresql"
        self.cursors: list[Any] = []

    def cursor(self, sql: str) -> Any:
        """A driver cursor that streams (server-side on PostgreSQL), executing ``sql``."""
        if self.server_side:
            # withhold: a named cursor outside a transaction (autocommit) needs it.
            withhold = bool(getattr(self.dbapi, "autocommit", False))
            cursor = self.dbapi.cursor(name=f"qp_audit_{len(self.cursors)}", withhold=withhold)
            cursor.itersize = PAGE
        else:
            cursor = self.dbapi.cursor()
        self.cursors.append(cursor)
        cursor.execute(sql)
        return cursor

    def run(self) -> bytes | None:
        try:
            return self._run()
        finally:
            for cursor in self.cursors:
                cursor.close()

    def _events(self) -> Iterator[list[Any]]:
        ev, lv, rc = self.log.events.c, self.log.leaves.c, self.recorded.c
        # PostgreSQL's uuid as text: psycopg2 would make a uuid.UUID of every row's
        # (about a third of the audit's time); the text is as good a key.
        originator = cast(ev.originator_id, String) if self.server_side else ev.originator_id
        query = (
            select(
                ev.id,
                originator,
                ev.originator_version,
                ev.topic,
                ev.state,
                rc.recorded_us,
                lv.leaf_index,
                lv.originator_id,
                lv.previous_hash,
                lv.leaf_hash,
            )
            .select_from(
                self.log.events.outerjoin(self.recorded, rc.position == ev.id).outerjoin(
                    self.log.leaves, lv.position == ev.id
                )
            )
            .where(ev.id <= self.bound)
            .order_by(ev.id)
        )
        cursor = self.cursor(_sql(self.conn, query))
        while page := cursor.fetchmany(PAGE):
            yield page

    def _run(self) -> bytes | None:
        report = self.report
        sha256 = hashlib.sha256
        u64, u32 = _U64_FIELD, _U32
        streams: dict[Any, tuple[str, bytes]] = {}
        topics: dict[str, bytes] = {}
        heads: dict[Any, bytes] = {}
        edge: list[bytes] = []  # the recomputed tree's right edge (CompactRange, inlined)
        nodes = _StoredNodes(self)
        pending = nodes.pending  # per level, the recomputed nodes not yet compared
        checking = True  # comparing stored nodes (until the first problem)
        size = 0  # leaves in the recomputed tree (events read)
        expected = 0  # the stored leaf index the next event should have
        at = self.at
        prefix_root = EMPTY_ROOT if at == 0 else None
        for page in self._events():
            for row in page:
                (
                    position,
                    raw_id,
                    version,
                    topic,
                    state,
                    recorded_us,
                    leaf_index,
                    leaf_stream,
                    stored_previous,
                    stored_leaf,
                ) = row
                if type(stored_leaf) is memoryview:  # psycopg2's bytea: compare as bytes
                    stored_leaf, stored_previous = stored_leaf.tobytes(), stored_previous.tobytes()
                if type(raw_id) is memoryview:
                    raw_id = raw_id.tobytes()
                previous = heads.get(raw_id, b"")
                try:
                    stream = streams.get(raw_id)
                    if stream is None:
                        stream = streams[raw_id] = _stream(raw_id)
                    topic_field = topics.get(topic)
                    if topic_field is None:
                        encoded = topic.encode()
                        topic_field = topics[topic] = u32(len(encoded)) + encoded
                    if recorded_us is None:
                        leaf = bytes(32)  # a placeholder: the event is flagged below
                    else:
                        leaf = sha256(
                            b"".join(
                                (
                                    _LEAF_HEAD,
                                    u64(8, position),
                                    stream[1],
                                    u64(8, version),
                                    topic_field,
                                    u64(8, recorded_us),
                                    _PREVIOUS + previous if previous else _NO_PREVIOUS,
                                    u32(len(state)),
                                    state,
                                )
                            )
                        ).digest()
                    malformed = None
                except (TypeError, AttributeError, ValueError, struct.error) as e:
                    # A column holding a value of another type than the ledger writes
                    # (SQLite keeps whatever an UPDATE puts there): edited by hand.
                    leaf, malformed, stream = bytes(32), str(e), ("", b"")
                if (
                    malformed is not None
                    or leaf_index != expected
                    or stored_leaf != leaf
                    or recorded_us is None
                    or stored_previous != previous
                    or leaf_stream != stream[0]
                ):
                    if checking:  # the nodes before it, then no more: they are built on it
                        nodes.flush()
                        checking = False
                    expected = self._mismatch(row, stream[0], previous, leaf, expected, malformed)
                    # Go on along the *stored* chain, so that each later event of the
                    # stream is judged on its own: only the rows that differ are named.
                    stored = _bytes(stored_leaf)
                    heads[raw_id] = stored if stored is not None and len(stored) == 32 else leaf
                else:
                    expected += 1
                    heads[raw_id] = leaf
                # Append to the recomputed tree; compare each node it completes.
                index, current = size, leaf
                level = 0
                while index & 1:
                    current = sha256(b"\x01" + edge.pop() + current).digest()
                    index >>= 1
                    level += 1
                    if checking:
                        pending[level].append(current)
                edge.append(current)
                size += 1
                if size == at:
                    prefix_root = fold(edge)
            if checking:
                checking = nodes.flush()
            if self.progress is not None:
                self.progress(len(page))
        self._missing_after(expected)
        report.size, report.root, report.streams = size, fold(edge), len(streams)
        report.nodes_checked = nodes.checked
        return prefix_root

    def _mismatch(
        self,
        row: Any,
        stream: str,
        previous: bytes,
        leaf: bytes,
        expected: int,
        malformed: str | None,
    ) -> int:
        """Say what is wrong with one event row; return the next expected leaf index."""
        position, recorded_us, leaf_index = row[0], row[5], row[6]
        leaf_stream, stored_previous, stored_leaf = row[7], row[8], row[9]
        flag = self.report.flag
        if leaf_index is None:
            flag(position, None, "event is not in the Merkle log (inserted outside the ledger?)")
            return expected
        if isinstance(leaf_index, bool) or not isinstance(leaf_index, int):
            flag(position, None, f"the stored leaf index {leaf_index!r:.40} is not a number")
            return expected + 1
        if leaf_index > expected:
            self._missing(expected, leaf_index, position)
        elif leaf_index < expected:
            flag(position, leaf_index, f"stored leaf {leaf_index} is out of order")
        if malformed is not None:
            flag(position, leaf_index, f"event row has a value of the wrong type: {malformed}")
        elif recorded_us is None:
            flag(position, leaf_index, "event has no recorded time (index row deleted?)")
        elif _bytes(stored_previous) != previous:
            flag(
                position,
                leaf_index,
                "hash chain broken: the stored predecessor hash is "
                "not the previous event of its stream",
            )
        elif _bytes(stored_leaf) != leaf:
            flag(position, leaf_index, "event does not match its leaf hash (edited?)")
        elif leaf_stream != stream:
            flag(
                position,
                leaf_index,
                f"the stored leaf names stream {leaf_stream}, the event is in {stream}",
            )
        return max(expected, leaf_index + 1)

    def _missing(self, first: int, end: int, before: int) -> None:
        """Stored leaves ``[first, end)`` whose events are gone (``before``: the next event)."""
        lv = self.log.leaves.c
        rows = self.conn.execute(
            select(lv.leaf_index, lv.position)
            .where(lv.leaf_index >= first, lv.leaf_index < end, lv.position <= self.bound)
            .order_by(lv.leaf_index)
            .limit(MAX_PROBLEMS + 1)
        ).all()
        found = {index: position for index, position in rows if isinstance(index, int)}
        gone_after = None
        for index in range(first, min(end, first + MAX_PROBLEMS + 1)):
            if index in found:
                self.report.flag(
                    int(found[index]),
                    index,
                    "event is missing (deleted?): the Merkle log has a leaf for it",
                )
                continue
            if gone_after is None:  # the last position before the gap
                ev = self.log.events.c
                gone_after = self.conn.execute(
                    select(func.coalesce(func.max(ev.id), 0)).where(ev.id < before)
                ).scalar_one()
            self.report.flag(
                int(gone_after) + 1,
                index,
                f"leaf {index} and its event are missing: deleted after position {gone_after}",
            )

    def _missing_after(self, expected: int) -> None:
        """Stored leaves after the last event's (its last events deleted); nodes beyond them."""
        lv, nv = self.log.leaves.c, self.log.nodes.c
        rows = self.conn.execute(
            select(lv.leaf_index, lv.position)
            .where(lv.leaf_index >= expected, lv.position <= self.bound)
            .order_by(lv.leaf_index)
            .limit(MAX_PROBLEMS + 1)
        ).all()
        for index, position in rows:
            if isinstance(index, int) and isinstance(position, int):
                self.report.flag(
                    position, index, "event is missing (deleted?): the Merkle log has a leaf for it"
                )
        # A node over leaves the log does not have: leaves (and events) were cut off
        # the end. Nodes and leaves commit together, so one statement sees both:
        # the stored size and each level's last index (index seeks).
        size_query = select(func.max(lv.leaf_index)).scalar_subquery()
        last = [
            select(func.max(nv.idx)).where(nv.level == level).scalar_subquery()
            for level in range(1, 64)
        ]
        row = self.conn.execute(select(size_query, *last)).one()
        if not isinstance(row[0], int) or not self.report.ok:
            return
        size = row[0] + 1
        for level, index in enumerate(row[1:], start=1):
            if isinstance(index, int) and (index + 1) << level > size:
                node = NodeID(level, index)
                self.report.flag(
                    None,
                    node.end - 1,
                    f"Merkle node (level {node.level}, index {node.index}) covers leaves up "
                    f"to {node.end - 1}, but the log has {size}: events were cut off its end",
                )
                return


def _bytes(value: Any) -> bytes | None:
    """A stored hash as bytes (None if someone stored something else there)."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


def _stream(raw: Any) -> tuple[str, bytes]:
    """A stream id as the driver returns it -> (canonical text, its leaf field)."""
    if isinstance(raw, UUID):
        text = stream_text(raw)
    elif isinstance(raw, bytes) and len(raw) == 16:
        text = str(UUID(bytes=raw))
    else:
        text = stream_text(UUID(str(raw)))
    encoded = text.encode()
    return text, _U32(len(encoded)) + encoded


class _StoredNodes:
    """The stored nodes, one streamed cursor per level, compared a page at a time.

    The recomputed tree completes the nodes of each level in index order, so
    each level's stored rows are read once, in primary-key order, in step:
    after each page of events, the nodes it completed are compared with as
    many stored rows of their level (one list comparison, in C). The first
    node that differs (or is missing) is reported, by level, index, the
    leaves it covers and the position of its first leaf; checking then stops,
    as every later node on that path is built on it.
    """

    def __init__(self, audit: _Audit) -> None:
        self.audit = audit
        # Per level (a tree has at most 64): nodes awaiting comparison, the index
        # of the first of them, and the level's cursor.
        self.pending: list[list[bytes]] = [[] for _ in range(65)]
        self.first = [0] * 65
        self.cursors: list[Any] = [None] * 65
        self.checked = 0

    def flush(self) -> bool:
        """Compare every pending node; False (and one problem reported) at the first mismatch."""
        for level, computed in enumerate(self.pending):
            if not computed:
                continue
            first, count = self.first[level], len(computed)
            rows = self._fetch(level, count)
            stored = [value for _, value in rows]
            if (
                len(rows) != count
                or rows[0][0] != first
                or rows[-1][0] != first + count - 1
                or stored != computed
            ):
                for offset, hash_ in enumerate(computed):
                    row = rows[offset] if offset < len(rows) else None
                    if row is None or row[0] != first + offset or row[1] != hash_:
                        self.checked += offset + 1
                        self._flag(
                            NodeID(level, first + offset), row is None or row[0] != first + offset
                        )
                        return False
            self.checked += count
            self.first[level] = first + count
            computed.clear()
        return True

    def _fetch(self, level: int, count: int) -> list[Any]:
        cursor = self.cursors[level]
        if cursor is None:
            nv = self.audit.log.nodes.c
            query = select(nv.idx, nv.hash).where(nv.level == level).order_by(nv.idx)
            cursor = self.cursors[level] = self.audit.cursor(_sql(self.audit.conn, query))
        rows: list[Any] = cursor.fetchmany(count)
        if rows and type(rows[0][1]) is memoryview:  # psycopg2's bytea: compare as bytes
            rows = [(index, value.tobytes()) for index, value in rows]
        return rows

    def _flag(self, node: NodeID, missing: bool) -> None:
        lv = self.audit.log.leaves.c
        first = self.audit.conn.execute(
            select(lv.position).where(lv.leaf_index == node.begin)
        ).scalar()
        self.audit.report.flag(
            None,
            node.begin,
            f"Merkle node (level {node.level}, index {node.index}) over leaves "
            f"{node.begin}..{node.end - 1} (from position {first}) "
            + ("is missing" if missing else "does not match the leaves below it"),
        )
