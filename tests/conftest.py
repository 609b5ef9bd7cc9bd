"""Shared fixtures: one ledger per test, on SQLite and on PostgreSQL.

Every behaviour test that takes ``ledger`` runs against both backends. The
PostgreSQL case uses ``QP_LEDGER_TEST_POSTGRES_URL`` (default: the local
server on 127.0.0.1:5432, database ``test``); it skips with a one-line reason
when the server is down, except under ``CI=true`` where a skip is a failure.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.service.application import QPLedger

SERVER_URL = os.environ.get(
    "QP_LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
#: Each pytest process works in its own scratch database on that server, so
#: parallel runs (and other work on the ``test`` database) never collide.
SCRATCH_DB = f"qp_ledger_test_{os.getpid()}"
POSTGRES_URL = SERVER_URL.rsplit("/", 1)[0] + "/" + SCRATCH_DB
_scratch_ready: list[str | None] = []


def postgres_unavailable() -> str | None:
    """The reason PostgreSQL can't be used, or None when it can (creates the scratch db)."""
    if _scratch_ready:
        return _scratch_ready[0]
    reason = None
    try:
        engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DB}"))
            conn.execute(text(f"CREATE DATABASE {SCRATCH_DB}"))
        engine.dispose()
    except Exception as e:
        reason = f"PostgreSQL not reachable at {SERVER_URL}: {type(e).__name__}"
    _scratch_ready.append(reason)
    return reason


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _scratch_ready and _scratch_ready[0] is None:
        engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"))
        engine.dispose()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail the test that leaves a non-daemon thread running.

    Python waits for those at exit, so one forgotten projector (or the
    subscription thread inside eventsourcing) hangs the whole run after the
    last test has passed. Catch it here, naming the test and the thread.
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5  # threads told to stop get a moment to finish
    while True:
        leaked = [
            t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if leaked:
        pytest.fail(f"the test left threads running: {sorted(t.name for t in leaked)}")


def reset_postgres() -> None:
    """Drop everything in the public schema so each test starts from an empty log."""
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def require_postgres() -> None:
    reason = postgres_unavailable()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL for each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    require_postgres()
    reset_postgres()
    return POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def postgres_url() -> str:
    require_postgres()
    reset_postgres()
    return POSTGRES_URL


@pytest.fixture
def ledger(database_url: str) -> Iterator[QPLedger]:
    app = QPLedger(database_url)
    yield app
    app.close()
