"""Projection lag p50/p99 under a sustained write load (issue 4, item 7).

In a scratch PostgreSQL database (``qp_bench_<pid>``, dropped after), a base
of ``--base`` CCGs' demo year is imported and projected, then a projector
process (``python -m ledger.projections project``: all three read models,
LISTEN/NOTIFY) follows the log while this script writes ``--rate`` commands
per second for ``--seconds`` seconds through ``QPLedger.execute`` (one event
each: the rest of the demo year for the other CCGs, in order).

Lag is what a read-your-writes client sees: from the moment ``execute``
returned (the event committed) to the moment a read model's tracked
position first reached the event's position, watched by polling the
tracking table every ``--poll-ms`` ms (which bounds the resolution). Prints
p50/p99/max per read model and for "all three"; asserts nothing.

    python bench/projection_lag.py [--rate 50] [--seconds 20] [--url ...] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

from _common import machine, percentile, scratch_database, server_url
from sqlalchemy import select

from ledger.demo.year import demo_commands
from ledger.domain.ccgs import ccgs
from ledger.projections import PROJECTIONS, ProjectorGroup, ReadModelDatabase, open_followed_ledger


class Watcher(threading.Thread):
    """Polls the tracking rows; remembers when each projection first reached each position."""

    def __init__(self, db: ReadModelDatabase, poll: float) -> None:
        super().__init__(daemon=True)
        self.db, self.poll = db, poll
        self.seen: dict[str, list[tuple[int, float]]] = {name: [] for name in PROJECTIONS}
        self.stop = threading.Event()

    def run(self) -> None:
        c, t = self.db.catalog, self.db.tracking
        query = select(t.c.projection, t.c.notification_id).join(
            c, (c.c.projection == t.c.projection) & (c.c.generation == t.c.generation)
        )
        with self.db.engine.connect() as conn:
            while not self.stop.is_set():
                rows = conn.execute(query).all()
                conn.commit()
                now = time.monotonic()
                for name, position in rows:
                    history = self.seen[name]
                    if not history or history[-1][0] != position:
                        history.append((int(position), now))
                time.sleep(self.poll)

    def reached(self, name: str, position: int) -> float | None:
        for at, moment in self.seen[name]:
            if at >= position:
                return moment
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=50.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--base", type=int, default=20, help="CCGs whose year is preloaded")
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--url", default=server_url(), help="PostgreSQL server (any database)")
    parser.add_argument("--sqlite", action="store_true", help="use a scratch SQLite file")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(args))
        ledger = open_followed_ledger(url)
        stack.callback(ledger.close)
        db = ReadModelDatabase(url)
        stack.callback(db.dispose)
        base = set(list(ccgs())[: args.base])
        commands = demo_commands()
        ledger.import_lines([json.dumps(c) for c in commands if c["ccg"] in base], actor="bench")
        ProjectorGroup(ledger, db, list(PROJECTIONS)).catch_up()
        load = [c for c in commands if c["ccg"] not in base]
        projector = subprocess.Popen(
            [sys.executable, "-m", "ledger.projections", "project", "--database-url", url],
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        stack.callback(projector.wait, 30)
        stack.callback(projector.terminate)
        time.sleep(3)  # let it start and subscribe
        watcher = Watcher(db, args.poll_ms / 1000)
        watcher.start()
        writes: list[tuple[int, float]] = []
        interval = 1.0 / args.rate
        started = time.monotonic()
        for i, command in enumerate(load):
            if time.monotonic() - started >= args.seconds:
                break
            time.sleep(max(0.0, started + i * interval - time.monotonic()))
            receipt = ledger.execute(command, actor="bench")
            writes.append((receipt.position, time.monotonic()))
        elapsed = time.monotonic() - started
        achieved = len(writes) / elapsed
        last = writes[-1][0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            watcher.reached(name, last) is None for name in PROJECTIONS
        ):
            time.sleep(0.05)
        watcher.stop.set()
        watcher.join()

    print(f"machine: {machine()}; backend: {url.split(':', 1)[0]}")
    print(
        f"load: {len(writes)} commands at {achieved:.1f}/s for {elapsed:.1f} s "
        f"(asked {args.rate}/s; one writer); poll resolution {args.poll_ms} ms"
    )
    print(f"{'read model':<12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    every: list[float] = []
    for name in PROJECTIONS:
        lags = []
        for position, committed in writes:
            seen = watcher.reached(name, position)
            if seen is not None:
                lags.append(max(0.0, seen - committed) * 1000)
        every += lags
        missing = len(writes) - len(lags)
        print(
            f"{name:<12} {percentile(lags, 50):>8.1f} {percentile(lags, 99):>8.1f} "
            f"{max(lags):>8.1f}" + (f"   ({missing} never seen)" if missing else "")
        )
    print(
        f"{'all three':<12} {percentile(every, 50):>8.1f} {percentile(every, 99):>8.1f} "
        f"{max(every):>8.1f}"
    )


if __name__ == "__main__":
    main()
