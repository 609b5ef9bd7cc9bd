"""Single-statement reads in one database round trip on PostgreSQL, and the log's head.

Every read of a decision "now" asks where the log ends (one index lookup),
because a write acknowledged by another process must be in the answer; every
report asks where its read model stands. Through SQLAlchemy on psycopg2 such
a lookup is three round trips: the driver's implicit ``BEGIN``, the
``SELECT`` and the pool's ``ROLLBACK`` (or ``COMMIT``) when the connection
goes back. One statement sees one snapshot and needs no transaction, so
:class:`OneRoundTrip` runs it on a pooled connection switched to autocommit for
that statement (the switch is the driver's own flag, no round trip): one
round trip.

Any driver error falls back to the caller's own query (a fresh pooled
connection, and SQLAlchemy's errors, which the API turns into 503), so a
connection the server dropped costs one retry, never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from ledger.adapters.index_guard import guarded_version_statement, judged
from ledger.adapters.port import LedgerStore

Row = Sequence[Any] | None


class OneRoundTrip:
    """One SELECT, compiled once, whose first row is read in one round trip on psycopg2.

    ``fallback`` (the same query through SQLAlchemy) answers on any other
    driver and whenever the fast path fails.
    """

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        self.engine, self.statement = engine, statement
        self.fast = engine.dialect.driver == "psycopg2"
        compiled = statement.compile(dialect=engine.dialect)
        self.sql, self.params = str(compiled), dict(compiled.params)

    def first(self, fallback: Callable[[], Row], **params: Any) -> Row:
        if not self.fast:
            return fallback()
        pooled: Any = self.engine.raw_connection()
        try:
            connection = pooled.driver_connection
            try:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(self.sql, {**self.params, **params})
                    row: Row = cursor.fetchone()
                connection.autocommit = False
            except Exception:
                pooled.invalidate()  # whatever state it is in, it is not reused
                return fallback()
        finally:
            pooled.close()
        return row


def head_reader(store: LedgerStore) -> Callable[[], int]:
    """A function returning the log's last position (0 for an empty log), as ``store.head``."""
    datastore = getattr(store, "datastore", None)
    engine = getattr(datastore, "engine", None)
    index = getattr(store, "index", None)
    if not isinstance(engine, Engine) or index is None or engine.dialect.driver != "psycopg2":
        return store.head
    query = OneRoundTrip(engine, select(func.max(index.c.position)))
    fallback = store.head

    def head() -> int:
        row = query.first(lambda: (fallback(),))
        return int(row[0] or 0) if row else 0

    return head


def version_reader(store: LedgerStore) -> Callable[[str, int], int | None]:
    """``store.stream_version_at``, its index guard included, in one round trip on PostgreSQL.

    The store asks the index, then the events table (ledger/adapters/index_guard.py):
    two statements, six round trips. Here both are one statement, so they also
    see one snapshot; the verdict on what it finds is the guard's own.
    """
    datastore = getattr(store, "datastore", None)
    engine = getattr(datastore, "engine", None)
    if not isinstance(engine, Engine) or engine.dialect.driver != "psycopg2":
        return store.stream_version_at
    query = OneRoundTrip(engine, guarded_version_statement(store))

    def version_at(originator_id: str, position: int) -> int | None:
        oid = UUID(str(originator_id))
        row = query.first(lambda: None, stream=str(oid), uuid=str(oid), position=position)
        if row is None:  # the fast path failed: the store's own two statements
            return store.stream_version_at(originator_id, position)
        version, *found = row
        return judged(store, oid, position, version, *found)

    return version_at
