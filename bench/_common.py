"""Shared helpers for the benchmarks: scratch databases, the raw baseline's table, percentiles.

Every benchmark works in a database it creates and drops itself
(``qp_bench_<pid>``), so it never touches the ``test`` database or a real
ledger, and two runs never collide.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

DEFAULT_SERVER_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("QP_LEDGER_BENCH_POSTGRES_URL", DEFAULT_SERVER_URL)


@contextmanager
def scratch_postgres(url: str | None = None) -> Iterator[str]:
    """Create ``qp_bench_<pid>`` on the server of ``url``, yield its URL, drop it after."""
    base = url or server_url()
    name = f"qp_bench_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def scratch_database(args: argparse.Namespace) -> Iterator[str]:
    """A scratch SQLite file (``args.sqlite``) or a scratch database on ``args.url``'s server."""
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="qp-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
    else:
        with scratch_postgres(args.url) as url:
            yield url


# The raw-commit baselines' table: the events table's columns and unique key, nothing else.
RAW_TABLE = """
CREATE TABLE raw_events (
    id BIGSERIAL PRIMARY KEY,
    originator_id UUID NOT NULL,
    originator_version BIGINT NOT NULL,
    topic TEXT NOT NULL,
    state BYTEA NOT NULL,
    UNIQUE (originator_id, originator_version)
)
"""
RAW_INSERT = (
    "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
    "VALUES (%s, %s, %s, %s)"
)


def psycopg2_dsn(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg2://u@h:p/db`` -> ``postgresql://u@h:p/db`` for psycopg2."""
    return "postgresql://" + sqlalchemy_url.split("://", 1)[1]


def percentile(samples: list[float], pct: float) -> float:
    """The pct-th percentile (inclusive method, as numpy's default 'linear')."""
    if len(samples) == 1:
        return samples[0]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[int(pct) - 1]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def measure_command(ccg: str, i: int, scheme: str = "qp-2013-14") -> dict[str, object]:
    """The write the append benchmarks repeat: a quarterly measure value, a new one each time."""
    return {
        "type": "measure_submitted",
        "ccg": ccg,
        "scheme": scheme,
        "measure": "avoidable-emergency-admissions",
        "criterion": "admissions-rate",
        "period": "2013-14-Q1",
        "value": 1000 + i,
        "reason": "bench",
    }
