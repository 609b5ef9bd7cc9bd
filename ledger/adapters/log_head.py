"""The log's head for "now" reads, in one database round trip on PostgreSQL.

Every read of a decision "now" asks where the log ends (one index lookup),
because a write acknowledged by another process must be in the answer. Through
SQLAlchemy on psycopg2 that lookup is three round trips: the driver's implicit
``BEGIN``, the ``SELECT`` and the pool's ``ROLLBACK`` when the connection goes
back. A single-statement read needs no transaction, so here it runs on a
pooled connection switched to autocommit for that one statement (the switch is
the driver's own flag, no round trip), which is one round trip.

Any driver error falls back to the store's own ``head`` (a fresh pooled
connection, and SQLAlchemy's errors, which the API turns into 503), so a
connection the server dropped costs one retry, never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ledger.adapters.port import LedgerStore


def head_reader(store: LedgerStore) -> Callable[[], int]:
    """A function returning the log's last position (0 for an empty log), as ``store.head``."""
    datastore = getattr(store, "datastore", None)
    engine = getattr(datastore, "engine", None)
    index = getattr(store, "index", None)
    if not isinstance(engine, Engine) or index is None or engine.dialect.driver != "psycopg2":
        return store.head
    sql = str(select(func.max(index.c.position)).compile(dialect=engine.dialect))
    fallback = store.head

    def head() -> int:
        pooled: Any = engine.raw_connection()
        try:
            connection = pooled.driver_connection
            try:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(sql)
                    row = cursor.fetchone()
                connection.autocommit = False
            except Exception:
                pooled.invalidate()  # whatever state it is in, it is not reused
                return fallback()
        finally:
            pooled.close()
        return int(row[0] or 0)

    return head
