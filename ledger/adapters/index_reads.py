"""Reads of the position index used by point-in-time replay: index lookups, each row checked.

Every row a decision relies on -- the head's recorded time, the position "as
of T", each event reference's position and time -- is read with its index
code (ledger/adapters/index_codes.py) in the same statement and checked
before it is used: an edited row refuses the read, naming itself, instead of
stamping a decision with a time the log never recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement, Select

from ledger.adapters.index_guard import IndexTampered, checked_stream_version


class IndexReads:
    """The index lookups of :class:`ledger.adapters.port.LedgerStore`, for the SQL recorder.

    Expects ``index`` (the table), ``index_codes`` (an
    :class:`~ledger.adapters.index_codes.IndexCodes`) and ``datastore``.
    """

    index: Any
    index_codes: Any
    datastore: Any
    integrity: Any

    def _connect(self) -> Connection:
        engine = self.datastore.engine
        assert isinstance(engine, Engine)
        return engine.connect()

    def coded(self, *where: ColumnElement[bool]) -> Select[Any]:
        """Index rows with their codes: (position, stream, version, recorded_us, code)."""
        idx, codes = self.index, self.index_codes.table
        return (
            select(
                idx.c.position,
                idx.c.originator_id,
                idx.c.originator_version,
                idx.c.recorded_us,
                codes.c.mac,
            )
            .outerjoin_from(idx, codes, codes.c.position == idx.c.position)
            .where(*where)
        )

    def head(self) -> int:
        """The last log position (0 for an empty log): one index lookup."""
        with self._connect() as conn:
            value = conn.execute(select(func.max(self.index.c.position))).scalar()
        return int(value or 0)

    def recorded_us(self, position: int) -> int | None:
        """When the log stood at a position: the recorded time of its last event <= it.

        Positions can have gaps (a write that loses a race on PostgreSQL burns a
        sequence value), so a replay "at position P" is the prefix up to P.
        """
        idx = self.index.c
        query = self.coded(idx.position <= position).order_by(idx.position.desc()).limit(1)
        with self._connect() as conn:
            rows = conn.execute(query).all()
            self.index_codes.check(conn, rows)
        return int(rows[0][3]) if rows else None

    def position_at(self, recorded_us: int) -> int:
        """The last log position recorded at or before the instant (0 if none).

        The row found and the row after it (by position) are both checked, and
        must straddle the instant: so a time edited later (hiding a row) or
        earlier (pulling one in) refuses the read instead of moving the answer.
        """
        idx = self.index.c
        found = (
            select(idx.position)
            .where(idx.recorded_us <= recorded_us)
            .order_by(idx.recorded_us.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = (
            self.coded(idx.position >= func.coalesce(found, 0))
            .add_columns(found.label("found"))
            .order_by(idx.position)
            .limit(2)
        )
        with self._connect() as conn:
            rows = conn.execute(query).all()
            self.index_codes.check(conn, [row[:5] for row in rows])
        answer = int(rows[0][5]) if rows and rows[0][5] is not None else 0
        before = [row for row in rows if row[0] == answer] if answer else []
        after = [row for row in rows if row[0] != answer]
        if (
            (answer and not before)
            or any(r[3] > recorded_us for r in before)
            or any(r[3] <= recorded_us for r in after)
        ):
            raise IndexTampered(
                f"{self.index.name}: the recorded times around position {answer} are not in "
                "log order (rows moved?); no decision is made from them; run `qp-ledger verify`"
            )
        return answer

    def stream_version_at(self, originator_id: str, position: int) -> int | None:
        """The stream's version as it stood at a log position (None: not yet opened)."""
        idx = self.index
        with self._connect() as conn:
            version = conn.execute(
                select(idx.c.originator_version)
                .where(idx.c.originator_id == originator_id, idx.c.position <= position)
                .order_by(idx.c.position.desc())
                .limit(1)
            ).scalar()
        return checked_stream_version(self, originator_id, position, version)

    def locate(self, originator_id: str, versions: list[int]) -> dict[int, tuple[int, int]]:
        """Map stream versions to (log position, recorded time in microseconds)."""
        idx = self.index.c
        query = self.coded(idx.originator_id == originator_id, idx.originator_version.in_(versions))
        with self._connect() as conn:
            rows = conn.execute(query).all()
            self.index_codes.check(conn, rows)
        return {int(v): (int(p), int(t)) for p, _, v, t, _ in rows}

    def originator_at(self, position: int) -> str | None:
        """The stream of the event at a log position (an HCAI case's, for a case receipt)."""
        with self._connect() as conn:
            rows = conn.execute(self.coded(self.index.c.position == position)).all()
            self.index_codes.check(conn, rows)
        return str(rows[0][1]) if rows else None

    def log_head_at(self, position: int) -> tuple[int, bytes]:
        """The Merkle tree (size, root) of the log as it stood at a position."""
        with self._connect() as conn:
            size = self.integrity.size_at_position(conn, position)
            head = self.integrity.tree_head(conn, size)
        return head.size, head.root
