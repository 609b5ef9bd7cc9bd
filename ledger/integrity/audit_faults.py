"""Naming what is wrong once the audit finds an event row that does not match the log.

The audit's loop only notices that a row differs; these say how (deleted,
inserted, out of order, edited, a broken chain, a log cut short) and at which
position, reading the few extra rows needed to tell.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from ledger.integrity.audit_report import MAX_PROBLEMS, AuditReport
from ledger.integrity.merkle import NodeID
from ledger.integrity.tables import IntegrityTables


def as_bytes(value: Any) -> bytes | None:
    """A stored hash as bytes (None if someone stored something else there)."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


class Faults:
    """Reports the mismatches of one audit pass over the events up to ``bound``."""

    def __init__(
        self,
        log: IntegrityTables,
        conn: Connection,
        bound: int,
        report: AuditReport,
        index_name: str = "event_index",
    ) -> None:
        self.log, self.conn, self.bound, self.report = log, conn, bound, report
        self.index_name = index_name

    def mismatch(
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
            self.missing(expected, leaf_index, position)
        elif leaf_index < expected:
            flag(position, leaf_index, f"stored leaf {leaf_index} is out of order")
        if malformed is not None:
            flag(position, leaf_index, f"event row has a value of the wrong type: {malformed}")
        elif recorded_us is None:
            flag(position, leaf_index, "event has no recorded time (index row deleted?)")
        elif as_bytes(stored_previous) != previous:
            flag(
                position,
                leaf_index,
                "hash chain broken: the stored predecessor hash is "
                "not the previous event of its stream",
            )
        elif as_bytes(stored_leaf) != leaf:
            flag(position, leaf_index, "event does not match its leaf hash (edited?)")
        elif leaf_stream != stream:
            flag(
                position,
                leaf_index,
                f"the stored leaf names stream {leaf_stream}, the event is in {stream}",
            )
        return max(expected, leaf_index + 1)

    def index_row(
        self, position: int, index_stream: Any, index_version: Any, stream: str, version: int
    ) -> None:
        """The index row of an event names another stream or version than the event's."""
        self.report.flag(
            position,
            None,
            f"names stream {index_stream!s:.40} version {index_version!s:.20}; the event at "
            f"this position is stream {stream} version {version}",
            table=self.index_name,
            row=f"position={position}",
        )

    def missing(self, first: int, end: int, before: int) -> None:
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

    def missing_after(self, expected: int) -> None:
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
                    table=self.log.nodes.name,
                    row=f"level={node.level}, idx={node.index}",
                )
                return
