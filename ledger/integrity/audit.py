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
* an index row whose stream or version is not its event's (moved to another
  stream): that position, naming the index row (the index's recorded time is
  in the leaf, so an edited time shows as an edited event);
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
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, String, Table, cast, func, select
from sqlalchemy.orm import Session

from ledger.integrity.audit_faults import Faults, as_bytes
from ledger.integrity.audit_reads import PAGE, Cursors, StoredNodeCursors
from ledger.integrity.audit_report import AuditReport, Problem, Progress
from ledger.integrity.checkpoint import Checkpoint
from ledger.integrity.leaf import FORMAT_TAG, stream_text
from ledger.integrity.merkle import EMPTY_ROOT, fold
from ledger.integrity.tables import IntegrityTables, Reader

__all__ = ["AuditReport", "Problem", "audit", "event_query"]

_U32 = struct.Struct(">I").pack
_U64_FIELD = struct.Struct(">IQ").pack
#: 0x00 (RFC 9162 leaf prefix) then field 1, the format tag, of every leaf.
_LEAF_HEAD = b"\x00" + _U32(len(FORMAT_TAG)) + FORMAT_TAG
_NO_PREVIOUS = _U32(0)
_PREVIOUS = _U32(32)


def audit(
    log: IntegrityTables,
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
    prefix_root = _Pass(log, conn, recorded, bound, report, checkpoint, progress).run()
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


class _Pass:
    """One pass over the log; see the module docstring."""

    def __init__(
        self,
        log: IntegrityTables,
        conn: Connection,
        recorded: Table,
        bound: int,
        report: AuditReport,
        checkpoint: Checkpoint | None,
        progress: Progress | None,
    ) -> None:
        self.log, self.recorded, self.bound = log, recorded, bound
        self.report, self.progress = report, progress
        self.at = None if checkpoint is None else checkpoint.size
        self.cursors = Cursors(conn)
        self.faults = Faults(log, conn, bound, report, recorded.name)

    def run(self) -> bytes | None:
        try:
            return self._run()
        finally:
            self.cursors.close()

    def _events(self) -> Iterator[list[Any]]:
        query = event_query(self.log, self.recorded, self.bound, self.cursors.server_side)
        cursor = self.cursors.run(query)
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
        nodes = StoredNodeCursors(self.log, self.cursors, report)
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
                    index_stream,
                    index_version,
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
                if (index_version != version or index_stream != stream[0]) and (
                    malformed is None and recorded_us is not None
                ):
                    self.faults.index_row(position, index_stream, index_version, stream[0], version)
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
                    expected = self.faults.mismatch(
                        row, stream[0], previous, leaf, expected, malformed
                    )
                    # Go on along the *stored* chain, so that each later event of the
                    # stream is judged on its own: only the rows that differ are named.
                    stored = as_bytes(stored_leaf)
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
        self.faults.missing_after(expected)
        report.size, report.root, report.streams = size, fold(edge), len(streams)
        report.nodes_checked = nodes.checked
        return prefix_root


def event_query(log: IntegrityTables, recorded: Table, bound: int, server_side: bool) -> Any:
    """The audit's one query: events ⟕ index ⟕ stored leaves up to ``bound``, by position.

    Public so bench/verify_throughput.py can time a raw driver read of exactly these rows.
    """
    ev, lv, rc = log.events.c, log.leaves.c, recorded.c
    # PostgreSQL's uuid as text: psycopg2 would make a uuid.UUID of every row's
    # (about a third of the audit's time); the text is as good a key.
    originator = cast(ev.originator_id, String) if server_side else ev.originator_id
    return (
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
            rc.originator_id,
            rc.originator_version,
        )
        .select_from(
            log.events.outerjoin(recorded, rc.position == ev.id).outerjoin(
                log.leaves, lv.position == ev.id
            )
        )
        .where(ev.id <= bound)
        .order_by(ev.id)
    )


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
