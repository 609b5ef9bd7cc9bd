"""The demo year imported with several ``import_lines(batch_size=…)`` (issue 12, item 3).

Would a larger batch make ``qp-ledger import`` and ``demo`` faster, and would
it store the same log? Each size imports the demo year (the commands
``qp-ledger demo`` loads) into its own scratch PostgreSQL database
(``qp_bench_<pid>``, emptied between sizes) in ``--rounds`` interleaved
rounds, and prints events/s and whether every event (stream, version) got
the same log position as with the first size. Asserts nothing.

    python bench/import_batches.py [--sizes 200,1000,5000] [--rounds 2] [--limit N] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import time

from _common import machine, scratch_postgres, server_url
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
    with scratch_postgres(args.url) as url:
        for _ in range(args.rounds):
            for size in sizes:
                took, logs[size] = import_once(url, lines, size)
                seconds[size] += took
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


if __name__ == "__main__":
    main()
