"""Code tables that start part-way through a log: their epoch, fixed once, read once.

Key codes and index codes are written with every event from the release that
brought them; a database from before holds events with none. Each code
table therefore has a one-row ``..._since`` table: the first position written
with codes, fixed when the tables are created (the position after the last
event then). Rows before it are older, not tampered with; from it on, a row
without its code is.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def create_with_epoch(
    engine: Engine, codes: Table, since: Table, events_table_name: str, what: str
) -> None:
    """Create ``codes`` and ``since`` and fix the epoch, unless another process just did.

    One transaction, so a second process doing the same at the same moment
    fails here and uses the first one's epoch.
    """
    try:
        with engine.begin() as conn:
            codes.create(conn)
            since.create(conn)
            last = 0
            if inspect(conn).has_table(events_table_name):
                events = Table(events_table_name, codes.metadata, autoload_with=conn)
                last = int(conn.execute(select(func.max(events.c.id))).scalar() or 0)
            conn.execute(insert(since).values(since=last + 1))
    except SQLAlchemyError:
        if not inspect(engine).has_table(since.name):
            raise
        return
    if last:
        log.warning(
            "%s start at log position %d: the %d event(s) before it were written without "
            "them and are checked against the events only",
            what,
            last + 1,
            last,
        )


def read_epoch(conn: Connection | Session, since: Table) -> int | None:
    """The epoch, or None when its row was deleted, duplicated or edited to a non-number."""
    rows = conn.execute(select(since.c.since)).scalars().all()
    if len(rows) != 1 or not isinstance(rows[0], int):
        return None
    return int(rows[0])


class EpochCodes:
    """A code table, its epoch and the key the codes are made with (the snapshot key file).

    Subclasses name what the codes vouch for (``what``), the error that
    refuses a read when the epoch cannot be told (``tampered``) and what then
    cannot be told (``unknown``).
    """

    what = "codes"
    tampered: type[Exception] = RuntimeError
    unknown = "which rows carry codes cannot be told"

    def __init__(
        self, engine: Engine, table: Table, since: Table, events_table_name: str, key: Any
    ) -> None:
        self.table, self.since_table, self.key = table, since, key
        self._since: int | None = None
        if not inspect(engine).has_table(table.name):
            create_with_epoch(engine, table, since, events_table_name, self.what)
        # Read now, so no write waits for it (a missing row raises on the first use).
        with engine.connect() as conn, contextlib.suppress(self.tampered):
            self.since(conn)

    def since(self, conn: Connection | Session) -> int:
        """The epoch (read once): refuses when its row was deleted, duplicated or edited."""
        if self._since is None:
            self._since = read_epoch(conn, self.since_table)
            if self._since is None:
                raise self.tampered(
                    f"{self.since_table.name} does not hold exactly one row: {self.unknown} "
                    "(run `qp-ledger verify`)"
                )
        return self._since

    def write_key(self) -> bytes:
        """The key, made now if there is none yet: every write stores codes."""
        key: bytes | None = self.key.get(create=True)
        if key is None:
            raise RuntimeError(
                f"nothing can be written: the key file {self.key.path} cannot be read or created"
            )
        return key
