"""How the audit reads: driver cursors that stream, and the stored nodes compared level by level.

No ORM or ``Row`` objects: Core statements are compiled to the driver's SQL
and run on its own cursors (server-side on PostgreSQL), so each event, leaf
and node row is read once with bounded memory (see :mod:`ledger.integrity.audit`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.sql import Select

from ledger.integrity.audit_report import AuditReport
from ledger.integrity.merkle import NodeID
from ledger.integrity.tables import IntegrityTables

#: Rows fetched from the driver at a time (events, and stored nodes per level).
PAGE = 5000


def sql_text(conn: Connection, query: Select[Any]) -> str:
    """A Core statement as the driver's SQL text (its only parameters are integers)."""
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


class Cursors:
    """The driver cursors of one audit, all closed together."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dbapi: Any = conn.connection.dbapi_connection
        self.server_side = conn.dialect.name == "postgresql"
        self.open: list[Any] = []

    def run(self, query: Select[Any]) -> Any:
        """A driver cursor that streams (server-side on PostgreSQL), executing ``query``."""
        if self.server_side:
            # withhold: a named cursor outside a transaction (autocommit) needs it.
            withhold = bool(getattr(self.dbapi, "autocommit", False))
            cursor = self.dbapi.cursor(name=f"qp_audit_{len(self.open)}", withhold=withhold)
            cursor.itersize = PAGE
        else:
            cursor = self.dbapi.cursor()
        self.open.append(cursor)
        cursor.execute(sql_text(self.conn, query))
        return cursor

    def close(self) -> None:
        for cursor in self.open:
            cursor.close()


class StoredNodeCursors:
    """The stored nodes, one streamed cursor per level, compared a page at a time.

    The recomputed tree completes the nodes of each level in index order, so
    each level's stored rows are read once, in primary-key order, in step:
    after each page of events, the nodes it completed are compared with as
    many stored rows of their level (one list comparison, in C). The first
    node that differs (or is missing) is reported, by level, index, the
    leaves it covers and the position of its first leaf; checking then stops,
    as every later node on that path is built on it.
    """

    def __init__(self, log: IntegrityTables, cursors: Cursors, report: AuditReport) -> None:
        self.log, self.cursors, self.report = log, cursors, report
        # Per level (a tree has at most 64): nodes awaiting comparison, the index
        # of the first of them, and the level's cursor.
        self.pending: list[list[bytes]] = [[] for _ in range(65)]
        self.first = [0] * 65
        self.levels: list[Any] = [None] * 65
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
        cursor = self.levels[level]
        if cursor is None:
            nv = self.log.nodes.c
            query = select(nv.idx, nv.hash).where(nv.level == level).order_by(nv.idx)
            cursor = self.levels[level] = self.cursors.run(query)
        rows: list[Any] = cursor.fetchmany(count)
        if rows and type(rows[0][1]) is memoryview:  # psycopg2's bytea: compare as bytes
            rows = [(index, value.tobytes()) for index, value in rows]
        return rows

    def _flag(self, node: NodeID, missing: bool) -> None:
        lv = self.log.leaves.c
        first = self.cursors.conn.execute(
            select(lv.position).where(lv.leaf_index == node.begin)
        ).scalar()
        self.report.flag(
            None,
            node.begin,
            f"Merkle node (level {node.level}, index {node.index}) over leaves "
            f"{node.begin}..{node.end - 1} (from position {first}) "
            + ("is missing" if missing else "does not match the leaves below it"),
            table=self.log.nodes.name,
            row=f"level={node.level}, idx={node.index}",
        )
