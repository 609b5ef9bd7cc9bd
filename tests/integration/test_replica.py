"""Reports from a real streaming replica, and min_position waiting for it (issue 12, item 5).

The shared server on 127.0.0.1:5432 refuses replication connections (its
pg_hba.conf has no ``replication`` line, and a test must not change the
server's configuration: docs/scaling.md), so this test makes its own pair of
PostgreSQL 15 clusters on free ports in a temporary directory: a throwaway
primary (``initdb``) and a hot standby made from it with ``pg_basebackup -R``,
streaming. Both are stopped and removed whatever happens. PostgreSQL refuses
to run as root, so as root the binaries run as the ``postgres`` user, in a
directory it owns.

A real ``qp-ledger serve --projector`` writes to the primary and reads its
reports from the standby (``QP_LEDGER_READ_DATABASE_URL``). With the
standby's replay paused, a write is projected on the primary, yet a report
still answers from the standby's older state; a report with
``min_position`` waits (it is seen polling the standby, unanswered) until
replay resumes, then answers with the write applied.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from sqlalchemy import create_engine

from ledger.adapters.tokens import TokenStore
from ledger.projections import ReadModels
from tests.e2e.serving import Server, free_port, start_serve

pytestmark = pytest.mark.postgres

PG_BIN = Path(os.environ.get("QP_LEDGER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
DB = "qp"
CCG, SCHEME = "00C", "qp-2013-14"
REPORT = f"/reports/ccgs/{CCG}/decision?scheme={SCHEME}"
#: Bounds on waiting for something that happens in well under a second here;
#: only ever reached when the test fails.
PATIENCE = 120.0
SETTINGS = """
listen_addresses = '127.0.0.1'
fsync = off
max_connections = 40
shared_buffers = 16MB
"""


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@dataclass
class Cluster:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{DB}"

    def sql(self, statement: str, *args: Any, database: str = DB) -> Any:
        """One statement in autocommit; its first value, if it returns rows."""
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return cur.fetchone()[0] if cur.description else None
        finally:
            conn.close()


def eventually(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {PATIENCE} s: {what}")


@pytest.fixture
def replica_pair() -> Iterator[tuple[Cluster, Cluster]]:
    """(primary, streaming hot standby): two new clusters, stopped and removed after."""
    if not (PG_BIN / "pg_basebackup").exists():
        unavailable(f"no PostgreSQL binaries in {PG_BIN}")
    as_pg: list[str] = []
    as_root = os.geteuid() == 0
    # As root, under /tmp whatever TMPDIR says: the postgres user must reach it.
    root = tempfile.mkdtemp(prefix="qp-replica-", dir="/tmp" if as_root else None)
    if as_root:  # initdb and postgres refuse to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            unavailable("running as root and there is no postgres user to run PostgreSQL as")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_pg = ["runuser", "-u", "postgres", "--"]
    base = Path(root)
    primary, standby = Cluster(base / "primary", free_port()), Cluster(base / "standby", 0)
    standby.port = free_port()
    started: list[Cluster] = []

    def run(*command: str) -> None:
        done = subprocess.run([*as_pg, *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command[0]}: {done.stdout}{done.stderr}"

    def start(cluster: Cluster) -> None:
        options = f"-p {cluster.port} -k {base}"
        log = f"{cluster.data}.log"
        started.append(cluster)
        run(
            str(PG_BIN / "pg_ctl"), "start", "-w", "-D", str(cluster.data), "-l", log, "-o", options
        )

    try:
        run(str(PG_BIN / "initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-N")
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS)
        start(primary)
        primary.sql(f"CREATE DATABASE {DB}", database="postgres")
        run(
            str(PG_BIN / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(standby.data), "-R", "-X", "stream", "-c", "fast"),
        )
        start(standby)
        assert standby.sql("SELECT pg_is_in_recovery()") is True
        yield primary, standby
    finally:
        for cluster in reversed(started):
            subprocess.run(
                [
                    *as_pg,
                    str(PG_BIN / "pg_ctl"),
                    "stop",
                    "-m",
                    "immediate",
                    "-D",
                    str(cluster.data),
                ],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


def projected_on_primary(primary: Cluster, position: int) -> bool:
    models = ReadModels(primary.url)
    try:
        return models.db.has_catalog() and models.position(["decisions"]) >= position
    finally:
        models.close()


def test_reports_wait_for_the_replica_then_answer_from_it(
    replica_pair: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    primary, standby = replica_pair
    env = {
        "QP_LEDGER_DATABASE_URL": primary.url,
        "QP_LEDGER_READ_DATABASE_URL": standby.url,
        "QP_LEDGER_REPORTS_WAIT_SECONDS": str(PATIENCE),
    }
    server = start_serve(tmp_path, "--workers", "1", "--threads", "4", "--projector", env=env)
    try:
        check_replica_reads(server, primary, standby)
    finally:
        server.stop()


def token(primary: Cluster, role: str, org: str | None = None) -> str:
    engine = create_engine(primary.url)
    try:
        return TokenStore(engine=engine).create(role, org)[1]
    finally:
        engine.dispose()


def check_replica_reads(server: Server, primary: Cluster, standby: Cluster) -> None:
    demo = server.cli("demo", "--ccgs", "2")
    assert demo.returncode == 0, demo.stderr
    board, ccg = token(primary, "board"), token(primary, "ccg", CCG)
    head = int(primary.sql("SELECT max(id) FROM qpledger_events"))

    def on_standby() -> Any:
        # 503 until the standby has the read models at all; then min_position waits there.
        answer = server.request("GET", f"{REPORT}&min_position={head}", token=board)
        return answer if answer.status == 200 else None

    eventually(f"the standby's read models at the demo's head {head}", on_standby)

    standby.sql("SELECT pg_wal_replay_pause()")
    eventually(
        "replay paused", lambda: standby.sql("SELECT pg_get_wal_replay_pause_state()") == "paused"
    )
    body = {
        "measure": "avoidable-emergency-admissions",
        "criterion": "admissions-rate",
        "period": "2013-14-Q1",
        "value": 4321,
        "reason": "a write the standby has not replayed",
    }
    written = server.request(
        "POST", f"/ccgs/{CCG}/schemes/{SCHEME}/measure-values", token=ccg, body=body
    )
    assert written.status == 201, written.body
    position = int(written.json()["position"])
    eventually(
        f"the primary's read models at {position}", lambda: projected_on_primary(primary, position)
    )

    stale = server.request("GET", REPORT, token=board)
    assert stale.status == 200, stale.body
    assert (
        int(stale.headers["X-Projection-Position"]) < position
    )  # the standby's, not the primary's
    assert stale.json()["position"] < position

    since = standby.sql("SELECT clock_timestamp()")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            server.request,
            "GET",
            f"{REPORT}&min_position={position}",
            token=board,
            timeout=PATIENCE + 30,
        )
        eventually(
            "the report reading the standby (nothing else queries it now)",
            lambda: standby.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND query_start > %s",
                DB,
                since,
            ),
        )
        assert not waiting.done()  # it waits: replay is paused, the standby cannot have it
        standby.sql("SELECT pg_wal_replay_resume()")
        answer = waiting.result()
    assert answer.status == 200, answer.body
    assert int(answer.headers["X-Projection-Position"]) >= position
    assert answer.json()["position"] == position  # the CCG's decision now includes the write
