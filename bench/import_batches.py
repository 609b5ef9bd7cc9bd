"""The demo year imported with several ``import_lines(batch_size=…)`` (issue 12, item 3).

Would a larger batch make ``qp-ledger import`` and ``demo`` faster, and would
it store the same log? Each size imports the demo year (the commands
``qp-ledger demo`` loads) into its own scratch PostgreSQL database
(``qp_bench_<pid>``, emptied between sizes) in ``--rounds`` interleaved
rounds, and prints events/s and whether every event (stream, version) got
the same log position as with the first size. The baseline, in the same
rounds: the stored events' own rows (id, stream, version, topic, payload)
inserted raw with psycopg2 ``execute_values`` into a table of the same
columns, committed every 200 rows (issue 12's "raw batched INSERT"); the
ratio import ÷ raw is printed with its goal. Asserts nothing.

    python bench/import_batches.py [--sizes 200,1000,5000] [--rounds 2] [--limit N] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import time

import psycopg2
from _common import machine, psycopg2_dsn, scratch_postgres, server_url
from psycopg2.extras import execute_values
from sqlalchemy import create_engine, text

from ledger.demo.cases import demo_case_commands
from ledger.demo.year import demo_commands
from ledger.service.application import QPLedger


def empty(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def import_once(url: str, lines: list[str], size: int) -> tuple[float, dict[tuple[str, int], int]]:
    """Seconds to import the lines, and each event's position by (stream, version)."""
    empty(url)
    ledger = QPLedger(url)
    try:
        t0 = time.perf_counter()
        report = ledger.import_lines(lines, batch_size=size)
        took = time.perf_counter() - t0
        assert report.rejected == 0, report.errors[:3]
        with ledger.store.datastore.engine.connect() as conn:  # type: ignore[union-attr]
            rows = conn.execute(
                text("SELECT originator_id::text, originator_version, id FROM qpledger_events")
            ).all()
    finally:
        ledger.close()
    return took, {(s, int(v)): int(p) for s, v, p in rows}


RAW_TABLE = """
CREATE TABLE raw_events (
    id BIGINT PRIMARY KEY, originator_id UUID NOT NULL, originator_version BIGINT NOT NULL,
    topic TEXT NOT NULL, state BYTEA NOT NULL, UNIQUE (originator_id, originator_version)
)"""


def raw_batched_insert(url: str, batch: int = 200) -> tuple[float, int]:
    """Seconds to insert the log's own event rows raw, ``batch`` rows per commit; rows."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, originator_id, originator_version, topic, state "
                        "FROM qpledger_events ORDER BY id")  # fmt: skip
            rows = cur.fetchall()
            cur.execute("DROP TABLE IF EXISTS raw_events")
            cur.execute(RAW_TABLE)
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for start in range(0, len(rows), batch):
                execute_values(cur, "INSERT INTO raw_events VALUES %s", rows[start : start + batch])
                conn.commit()
        return time.perf_counter() - t0, len(rows)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes", default="200,1000,5000", help="batch sizes, the first is today's"
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--limit", type=int, help="first N CCGs of the demo only")
    parser.add_argument("--url", default=server_url(), help="any database on the server")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    commands = demo_commands(limit=args.limit) + demo_case_commands()
    lines = [json.dumps(c) for c in commands]

    seconds = dict.fromkeys(sizes, 0.0)
    logs: dict[int, dict[tuple[str, int], int]] = {}
    raw_seconds, raw_rows = 0.0, 0
    with scratch_postgres(args.url) as url:
        for _ in range(args.rounds):
            for size in sizes:
                took, logs[size] = import_once(url, lines, size)
                seconds[size] += took
            took, rows = raw_batched_insert(url)
            raw_seconds, raw_rows = raw_seconds + took, raw_rows + rows
    print(f"machine: {machine()}")
    print(f"demo year: {len(lines)} lines, {len(logs[sizes[0]])} events, {args.rounds} rounds")
    for size in sizes:
        rate = len(logs[size]) * args.rounds / seconds[size]
        same = logs[size] == logs[sizes[0]]
        moved = sum(1 for k, p in logs[size].items() if logs[sizes[0]].get(k) != p)
        print(
            f"batch_size {size:6d}: {rate:8.1f} events/s  "
            f"same positions as {sizes[0]}: {same} ({moved} events at another position)"
        )
    raw_rate = raw_rows / raw_seconds
    print(f"raw execute_values, 200 rows a commit: {raw_rate:8.1f} rows/s")
    first = len(logs[sizes[0]]) * args.rounds / seconds[sizes[0]]
    print(
        f"ratio import (batch_size {sizes[0]}) / raw batched INSERT  {first / raw_rate:7.3f}"
        "  (goal >= 0.25)"
    )


if __name__ == "__main__":
    main()
