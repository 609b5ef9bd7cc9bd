"""Fault tests with real projector processes: SIGKILL at random points, and two racing.

Each projector process runs ``python -m ledger.projections project`` with
small batches and ``QP_LEDGER_PROJECTION_FAULT_DELAY`` (a sleep after a
batch's writes, before its commit), so most kills land inside an open
transaction. After every kill, and at the end, ``check`` compares every row
with a fresh replay: it must be clean each time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger.projections import PROJECTIONS, RECORD_TOPICS
from ledger.projections.view import FAULT_DELAY
from tests.projections.projkit import Harness, demo

pytestmark = pytest.mark.slow


#: Every projector process a test starts; any still running at teardown is killed,
#: so a failed test never leaves one writing into the next test's database.
_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_projector_outlives_its_test() -> Iterator[None]:
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start_projector(url: str, log: Path, *, delay: float = 0.03) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "ledger.projections", "project", "--database-url", url,
               "--batch-size", "20"]  # fmt: skip
    env = {**os.environ, FAULT_DELAY: str(delay)}
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    _started.append(process)
    return process


def ready(log: Path) -> bool:
    """The projector has subscribed (it says so once its threads are running)."""
    return _starts(log) > 0


def _starts(log: Path) -> int:
    """How many projectors writing to ``log`` have said they run (the log is shared)."""
    return log.read_bytes().count(b"projecting ") if log.exists() else 0


class Writer(threading.Thread):
    """Imports commands in small chunks for a while: the load the projectors follow."""

    def __init__(self, h: Harness, commands: list[dict[str, Any]], chunk: int = 15) -> None:
        super().__init__()
        self.h, self.commands, self.chunk = h, commands, chunk
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for start in range(0, len(self.commands), self.chunk):
                self.h.load(self.commands[start : start + self.chunk])
                time.sleep(0.05)
        except BaseException as e:  # pragma: no cover - reported by the test
            self.error = e


def positions(h: Harness) -> dict[str, int]:
    return {name: s["position"] for name, s in h.read.status().items()}


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def open_projection_transactions(h: Harness) -> int:
    """Backends inside a transaction that has written read model rows (PostgreSQL)."""
    with h.db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND xact_start IS NOT NULL AND pid <> pg_backend_pid() "
                    "AND query ILIKE '%qpproj_%' AND query NOT ILIKE '%pg_stat_activity%'"
                )
            ).scalar()
            or 0
        )


def record_events(h: Harness) -> int:
    return len(h.ledger.recorder.select_notifications(None, 100_000, topics=RECORD_TOPICS))


@pytest.mark.parametrize(
    ("backend", "kills", "ccgs"),
    [pytest.param("postgres", 10, 10, marks=pytest.mark.postgres), ("sqlite", 3, 5)],
)
def test_projector_killed_at_random_points_and_restarted(
    backend: str, kills: int, ccgs: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("postgres_url" if backend == "postgres" else "sqlite_url")
    h = Harness(url)
    rng = random.Random(20140401)
    log = tmp_path / "projector.log"
    writer = Writer(h, demo(ccgs))
    in_transaction = 0
    try:
        writer.start()
        for kill in range(kills):
            before = positions(h) if h.db.has_catalog() else {}
            projector = start_projector(url, log)
            # Let it get going (startup imports take a while, and it makes each read
            # model's tables in turn: a kill before the last would leave that one "not
            # built yet", which is no fault), then kill it at a random moment.
            wait_for(
                lambda b=before: (
                    h.db.has_catalog()
                    and set(positions(h)) == set(PROJECTIONS)
                    and positions(h) != b
                ),
                30,
                "progress",
            )
            time.sleep(rng.uniform(0.0, 0.4))
            if backend == "postgres":
                in_transaction += open_projection_transactions(h) > 0
            projector.send_signal(signal.SIGKILL)
            projector.wait(10)
            report = h.check(documents=False)
            assert report.clean, f"after kill {kill + 1}: {report.difference}"
        writer.join()
        assert writer.error is None
        started = _starts(log)
        final = start_projector(url, log, delay=0.0)
        head = h.ledger.max_position()
        # The read models may already stand at the head (the last one killed got
        # there): wait until this projector says it runs, so SIGTERM meets its
        # handler and not Python's default (exit -15).
        wait_for(lambda: _starts(log) > started, 60, "the final projector to start")
        wait_for(lambda: set(positions(h).values()) == {head}, 60, "the final catch-up")
        final.send_signal(signal.SIGTERM)
        assert final.wait(20) == 0
        report = h.check()
        assert report.clean, report.difference
        assert report.positions == dict.fromkeys(PROJECTIONS, head)
        assert h.read.status()["decisions"]["events_applied"] == record_events(h)
        if backend == "postgres":
            # Most kills landed with a batch's writes made and not yet committed.
            assert in_transaction >= 3, (in_transaction, log.read_text()[-2000:])
    finally:
        writer.join()
        h.close()


@pytest.mark.postgres
def test_two_projector_processes_racing_apply_each_event_once(
    pg_harness: Harness, tmp_path: Path
) -> None:
    h = pg_harness
    h.load(demo(3))
    writer = Writer(h, [c for c in demo(8) if c["ccg"] not in {x["ccg"] for x in demo(3)}])
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    projectors = [start_projector(h.url, log, delay=0.01) for log in logs]
    # Both up and following before the load starts, so they race for every batch.
    wait_for(lambda: all(ready(log) for log in logs), 60, "both projectors to start")
    writer.start()
    writer.join()
    assert writer.error is None
    head = h.ledger.max_position()
    wait_for(lambda: set(positions(h).values()) == {head}, 90, "both projectors to catch up")
    for p in projectors:
        p.send_signal(signal.SIGTERM)
    assert [p.wait(20) for p in projectors] == [0, 0]
    stats = [json.loads(log.read_text().strip().splitlines()[-1])["stats"] for log in logs]
    total = record_events(h)
    for name in PROJECTIONS:
        # Every event was applied by exactly one of the two processes.
        assert stats[0][name]["events"] + stats[1][name]["events"] == total, (name, stats)
    assert sum(s[name]["conflicts"] for s in stats for name in PROJECTIONS) >= 1, stats
    report = h.check()
    assert report.clean, report.difference


@pytest.mark.postgres
def test_a_projector_whose_connections_are_dropped_reconnects(
    pg_harness: Harness, tmp_path: Path
) -> None:
    h = pg_harness
    h.load(demo(2))
    # Every connection the projector process opens carries this name, so the
    # server can cut exactly those (a failover, a restarted pgbouncer ...).
    url = h.url + "?application_name=qp-projector-under-test"
    log = tmp_path / "projector.log"
    projector = start_projector(url, log, delay=0.0)
    head = h.ledger.max_position()
    wait_for(lambda: h.db.has_catalog() and set(positions(h).values()) == {head}, 60, "start")
    with h.db.engine.connect() as conn:
        cut = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'qp-projector-under-test'"
            )
        ).scalar()
    assert cut and cut >= 3  # the LISTEN connections at least
    h.load(c for c in demo(4) if c["ccg"] not in {x["ccg"] for x in demo(2)})
    head = h.ledger.max_position()
    wait_for(lambda: set(positions(h).values()) == {head}, 60, "recovery")
    projector.send_signal(signal.SIGTERM)
    assert projector.wait(20) == 0, log.read_text()[-3000:]
    assert "database error" in log.read_text() or "retrying" in log.read_text()
    report = h.check()
    assert report.clean, report.difference
