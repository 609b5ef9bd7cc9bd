"""Issuing the decisions of all 211 CCGs after the demo year (issue 6).

Prints the time to issue every decision (one Board command) and, as the
same-run baseline, the time to merely compute those 211 decisions without
storing anything; the ratio is the cost of issuing over replaying.

    python bench/issue_all.py            # PostgreSQL scratch database
    python bench/issue_all.py --sqlite   # a temporary SQLite file
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, scratch_postgres

from ledger.demo.year import demo_commands
from ledger.domain.ccgs import ccgs
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"


def run(url: str) -> None:
    ledger = QPLedger(url)
    started = time.perf_counter()
    report = ledger.import_lines(json.dumps(c) for c in demo_commands())
    loaded = time.perf_counter() - started
    print(f"demo year: {report.stored} events in {loaded:.1f} s")

    started = time.perf_counter()
    for ccg in ccgs():
        ledger.decision(ccg, SCHEME)
    replay = time.perf_counter() - started

    started = time.perf_counter()
    issued = ledger.determinations.issue_all(SCHEME, actor="board:bench")["issued"]
    issuing = time.perf_counter() - started
    total = sum(i["payable_pence"] for i in issued)
    print(f"compute 211 decisions (baseline): {replay:.2f} s ({replay / 211 * 1000:.1f} ms each)")
    print(f"issue 211 decisions:              {issuing:.2f} s ({issuing / 211 * 1000:.1f} ms each)")
    print(f"ratio issue / compute: {issuing / replay:.2f}x; payable total {total} pence")
    ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            print("backend: SQLite")
            run(f"sqlite:///{tmp}/bench.db")
    else:
        with scratch_postgres() as url:
            print("backend: PostgreSQL")
            run(url)


if __name__ == "__main__":
    main()
