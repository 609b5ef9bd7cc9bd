"""Where the read models live: one SQLAlchemy engine, the catalog, the tracking table.

Read models are kept in the ledger's own database (one setting,
``QP_LEDGER_DATABASE_URL``, chooses all storage). Each projection's tables
exist in numbered *generations* (``qpproj_decisions_g3_current`` ...): a
rebuild fills a fresh generation while the live one keeps serving, then one
transaction flips ``qpproj_catalog`` to it. Readers always look the active
generation up first, so they see the old tables or the new, never a mixture.

``qpproj_tracking`` holds one row per (projection, generation): the log
position it has applied up to and how many events that took. The row is
locked by every batch that writes the generation, which is what makes the
position move exactly once per event (see ``view.py``).

Transactions: on PostgreSQL writers use READ COMMITTED (a row lock waited for
is re-read, so a compare-and-set sees the winner's value) and readers use
REPEATABLE READ (one snapshot for a page, its total and its position). On
SQLite writers open with ``BEGIN IMMEDIATE`` (take the database write lock
first, so a read-then-write can't be overtaken) and readers with a deferred
``BEGIN`` (one WAL snapshot).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine

from ledger.adapters.gc_pause import gc_paused

BIG = BigInteger().with_variant(Integer(), "sqlite")
#: Arbitrary constant: the PostgreSQL advisory lock that serialises setting up tables.
SETUP_LOCK = 0x51504C4544474552  # "QPLEDGER"
#: Rebuilds of one projection take this lock plus a per-name offset (session level).
REBUILD_LOCK = 0x5150524542554900


def ccg_key() -> list[Column[Any]]:
    """The key of every per-CCG read-model row (new columns each call: a column has one table)."""
    return [
        Column("scheme", String(32), primary_key=True),
        Column("ccg", String(8), primary_key=True),
    ]


def now_us() -> int:
    return time.time_ns() // 1000


def make_engine(database_url: str, *, ping: bool = True) -> Engine:
    """An engine for the read models, with the transaction modes described above.

    ``ping=False`` (projectors) saves a round trip per transaction: a dropped
    connection then fails the batch, which the projector retries anyway.
    """
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, hide_parameters=True, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below decide how transactions start.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("qp_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(
        database_url,
        pool_pre_ping=ping,
        hide_parameters=True,  # failed statements are logged: no data or keys in logs
        isolation_level="READ COMMITTED",
        # UPDATE executemany in pages (psycopg2.extras.execute_batch), not row by row.
        executemany_mode="values_plus_batch",
        # Commits need not wait for the WAL flush: a server crash may lose the
        # last few batches, but each batch and its tracking row are lost
        # together, and the projector applies them again.
        connect_args={"options": "-c synchronous_commit=off"},
    )


class ReadModelDatabase:
    """The read models' engine, catalog of active generations and tracking rows."""

    def __init__(
        self, database_url: str, *, engine: Engine | None = None, ping: bool = True
    ) -> None:
        self.url = database_url
        self.engine = engine or make_engine(database_url, ping=ping)
        self.dialect = self.engine.dialect.name
        metadata = MetaData()
        self.catalog = Table(
            "qpproj_catalog",
            metadata,
            Column("projection", String(32), primary_key=True),
            Column("generation", Integer, nullable=False),
            Column("switched_us", BIG, nullable=False),
        )
        self.tracking = Table(
            "qpproj_tracking",
            metadata,
            Column("projection", String(32), primary_key=True),
            Column("generation", Integer, primary_key=True, autoincrement=False),
            Column("application_name", String(32), nullable=False),
            Column("notification_id", BIG, nullable=False),
            Column("events_applied", BIG, nullable=False),
            Column("updated_us", BIG, nullable=False),
        )
        self._base_metadata = metadata
        self._tables: dict[tuple[str, int], dict[str, Table]] = {}
        self._has_catalog = False

    def dispose(self) -> None:
        self.engine.dispose()

    # -- transactions -----------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (committed on success, rolled back on any error).

        On SQLite it holds the database's one write lock, so no garbage
        collection pause may land inside it (``ledger/adapters/gc_pause.py``).
        """
        paused = gc_paused() if self.dialect == "sqlite" else nullcontext()
        with paused, self.engine.connect() as conn:
            conn.execution_options(qp_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One consistent snapshot for a read of several statements."""
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def lock_setup(self, conn: Connection) -> None:
        """Serialise creating and dropping tables between processes (PostgreSQL).

        SQLite needs nothing more: ``BEGIN IMMEDIATE`` already holds the one write lock.
        """
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SETUP_LOCK})

    @contextmanager
    def rebuild_guard(self, name: str) -> Iterator[bool]:
        """Hold a session lock so two rebuilds of one projection never run at once.

        Yields False (and holds nothing) when another rebuild holds it. SQLite
        has no such lock; there a second rebuild would simply win the switch.
        """
        if self.dialect != "postgresql":
            yield True
            return
        key = REBUILD_LOCK + sum(name.encode())
        with self.engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()

    # -- generations ---------------------------------------------------------------

    def tables(
        self, name: str, generation: int, build: Callable[[MetaData, str], dict[str, Table]]
    ) -> dict[str, Table]:
        """The Table objects of one generation of a projection (cached)."""
        key = (name, generation)
        found = self._tables.get(key)
        if found is None:
            found = build(MetaData(), f"qpproj_{name}_g{generation}_")
            self._tables[key] = found
        return found

    def has_catalog(self) -> bool:
        """Whether any read model was ever set up here (remembered once true)."""
        if not self._has_catalog:
            self._has_catalog = bool(inspect(self.engine).has_table(self.catalog.name))
        return self._has_catalog

    def ensure(
        self, name: str, build: Callable[[MetaData, str], dict[str, Table]], app_name: str
    ) -> int:
        """Make sure the projection has an active generation; return it.

        The first call for a projection creates generation 1 (empty, at
        position 0). Safe to call from several processes at once.
        """
        if self.has_catalog():
            with self.read() as conn:
                found = self.active_generation(conn, name)
            if found is not None:
                return found
        with self.write() as conn:
            self.lock_setup(conn)
            self._base_metadata.create_all(conn, checkfirst=True)
            found = self.active_generation(conn, name)
            if found is not None:
                return found
            self._create_generation(conn, name, 1, build, app_name)
            conn.execute(
                insert(self.catalog).values(projection=name, generation=1, switched_us=now_us())
            )
            return 1

    def new_generation(
        self, name: str, build: Callable[[MetaData, str], dict[str, Table]], app_name: str
    ) -> int:
        """Create the next generation's empty tables, not yet active, at position 0."""
        with self.write() as conn:
            self.lock_setup(conn)
            highest = conn.execute(
                select(func.max(self.tracking.c.generation)).where(
                    self.tracking.c.projection == name
                )
            ).scalar()
            generation = int(highest or 0) + 1
            self._create_generation(conn, name, generation, build, app_name)
            return generation

    def _create_generation(
        self,
        conn: Connection,
        name: str,
        generation: int,
        build: Callable[[MetaData, str], dict[str, Table]],
        app_name: str,
    ) -> None:
        tables = self.tables(name, generation, build)
        for table in tables.values():
            table.create(conn, checkfirst=True)
        conn.execute(
            insert(self.tracking).values(
                projection=name,
                generation=generation,
                application_name=app_name,
                notification_id=0,
                events_applied=0,
                updated_us=now_us(),
            )
        )

    def active_generation(self, conn: Connection, name: str) -> int | None:
        found = conn.execute(
            select(self.catalog.c.generation).where(self.catalog.c.projection == name)
        ).scalar()
        return None if found is None else int(found)

    def generations(self, conn: Connection, name: str) -> list[int]:
        rows = conn.execute(
            select(self.tracking.c.generation).where(self.tracking.c.projection == name)
        ).scalars()
        return sorted(int(g) for g in rows)

    def drop_generations(
        self,
        name: str,
        keep: set[int],
        build: Callable[[MetaData, str], dict[str, Table]],
    ) -> list[int]:
        """Drop every generation of a projection not in ``keep`` (tables and tracking row).

        The rebuild keeps the one it replaced, so a reader that looked up the
        old generation an instant before the switch still finds its tables.
        """
        with self.write() as conn:
            self.lock_setup(conn)
            active = self.active_generation(conn, name)
            doomed = [g for g in self.generations(conn, name) if g not in keep and g != active]
            for generation in doomed:
                for table in reversed(list(self.tables(name, generation, build).values())):
                    table.drop(conn, checkfirst=True)
                conn.execute(
                    delete(self.tracking).where(
                        self.tracking.c.projection == name,
                        self.tracking.c.generation == generation,
                    )
                )
            return doomed

    def switch(self, conn: Connection, name: str, generation: int) -> None:
        """Make ``generation`` the one readers and live projectors use (inside a write)."""
        conn.execute(
            update(self.catalog)
            .where(self.catalog.c.projection == name)
            .values(generation=generation, switched_us=now_us())
        )
