"""Verify events/s ÷ raw SHA-256 over the same leaf bytes, and the write path's hashing cost.

Issue 5, item 7. Everything is measured in one run, on one machine, so a
busier machine moves both sides of each ratio alike:

* **verify**: ``ledger.integrity.audit.audit`` — what ``qp-ledger verify``
  runs — over a log of ``--events`` events in ``--streams`` streams (written
  through the real recorder, so with their leaves and nodes): read every
  event, its recorded time and stored leaf, rebuild the leaf bytes, hash
  them, check the chain, rebuild the tree and compare every stored node;
* **raw**: ``hashlib.sha256(leaf).digest()`` over exactly those leaf bytes,
  already in memory: the floor no verifier can beat;
* **raw read** (issue 11): the audit's own query and every stored node, read
  through the same driver cursor and discarded: verify ÷ this is the share
  of its time that is reading, the goal being >= 0.5;
* **appends**: ``QPLedger.execute`` of one command at a time, and
  ``LedgerRecorder.insert_events`` of one event at a time, with the integrity
  write path (``LedgerRecorder``) and without it (a subclass whose
  ``_record_integrity`` does nothing), each in its own database, interleaved
  in ``--rounds`` rounds.

On PostgreSQL the log's tables are ``ANALYZE``d once built, as autovacuum
would do on a real log.

Wall-clock rates are what a user sees; CPU time (this process) is also shown
because it is steadier on a shared machine (on PostgreSQL the server's CPU is
not in it). Asserts nothing.

    python bench/verify_throughput.py [--sqlite | --url URL] [--events 100000]
        [--streams 200] [--repeats 3] [--appends 1000] [--rounds 4] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from _common import machine, server_url
from _common import measure_command as command
from _verify_baselines import leaf_bytes, raw_hashing, raw_read, raw_read_all
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from ledger.adapters import sealing
from ledger.adapters.recorder import Factory, LedgerRecorder
from ledger.adapters.sealing import SealedField, SealedStoredEvent
from ledger.cli.verify import _audit as verify_all
from ledger.domain.ccgs import ccgs
from ledger.integrity.audit import audit
from ledger.integrity.log import TreeHead
from ledger.integrity.sealed import seal
from ledger.service.application import QPLedger

TOPIC = "ledger.domain.record:CCGPremiumRecord.MeasureSubmitted"
SALT = bytes(range(16))
REASON = (SealedField("reason", seal("bench", SALT).digest, SALT, "bench"),)


class PlainRecorder(LedgerRecorder):
    """``LedgerRecorder`` without the hashing: events and recorded times only."""

    def _record_integrity(self, session: Session, stored_events: Any, index_rows: Any) -> TreeHead:
        return TreeHead(0, b"")


class PlainFactory(Factory):
    application_recorder_class = PlainRecorder


# -- databases ------------------------------------------------------------------------


@contextmanager
def databases(sqlite: bool, url: str) -> Iterator[tuple[str, str]]:
    """Two empty scratch databases (SQLite files, or ``qp_bench_<pid>_{a,b}``)."""
    if sqlite:
        with tempfile.TemporaryDirectory(prefix="qp-bench-") as folder:
            yield f"sqlite:///{folder}/a.db", f"sqlite:///{folder}/b.db"
        return
    import os

    names = [f"qp_bench_{os.getpid()}_{x}" for x in "ab"]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    base = url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def realistic_payload(url: str) -> bytes:
    """A stored ``measure_submitted`` state, as the application writes it."""
    ledger = QPLedger(url)
    sealing.new_salt = lambda: SALT  # so build_log can store each copy's sealed reason
    try:
        ledger.execute(command("06F", 0), actor="ccg:06F#0123456789ab")
        events = ledger.store.events_record_cls.__table__
        with ledger.store.datastore.engine.connect() as conn:
            state = conn.execute(
                select(events.c.state).order_by(events.c.id.desc()).limit(1)
            ).scalar_one()
        return bytes(state)
    finally:
        ledger.close()


def build_log(ledger: QPLedger, events: int, streams: int, payload: bytes) -> float:
    """``events`` events, round-robin over ``streams`` streams, in batches of 1000; seconds."""
    store = ledger.store
    ids = [uuid.uuid4() for _ in range(streams)]
    versions = dict.fromkeys(ids, 0)
    start = time.perf_counter()
    for first in range(0, events, 1000):
        batch = []
        for i in range(first, min(events, first + 1000)):
            stream = ids[i % streams]
            versions[stream] += 1
            # Vary the payload a little, as real values do.
            body = payload.replace(b"1000", str(1000 + i % 9000).encode(), 1)
            # With its reason's words and salt beside it, as the ledger stores them.
            batch.append(SealedStoredEvent(stream, versions[stream], TOPIC, body, sealed=REASON))
        store.insert_events(batch)
    elapsed = time.perf_counter() - start
    engine = store.datastore.engine
    if engine.dialect.name == "postgresql":
        # Planner statistics, as autovacuum would have gathered them on a real log
        # (without, a fresh table gets hash joins and a sort instead of merge joins).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return elapsed


# -- verify vs raw hashing ------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run_audit(ledger: QPLedger) -> Any:
    store = ledger.store
    with store.datastore.engine.connect() as conn:
        report = audit(store.integrity, conn, store.index)
    assert report.ok, report.problems
    return report


def run_verify_command(ledger: QPLedger) -> Any:
    """All of ``qp-ledger verify``: the audit, the stored tree, and every other table
    (index, snapshots, idempotency rows and key codes, sealed words)."""
    report, _ = verify_all(ledger, None)
    assert report.ok, report.problems
    return report


def verify_vs_raw(ledger: QPLedger, repeats: int, profile: bool) -> dict[str, Any]:
    leaves = leaf_bytes(ledger)
    n = len(leaves)
    verify_wall, verify_cpu, raw_wall, raw_cpu = [], [], [], []
    read_wall: list[float] = []
    command_wall: list[float] = []
    read_all_wall: list[float] = []
    for _ in range(repeats):  # interleaved, so drift hits both
        wall, cpu, report = timed(lambda: run_audit(ledger))
        assert report.size == n
        verify_wall.append(wall)
        verify_cpu.append(cpu)
        command_wall.append(timed(lambda: run_verify_command(ledger))[0])
        read_all_wall.append(timed(lambda: raw_read_all(ledger))[0])
        read_wall.append(timed(lambda: raw_read(ledger))[0])
        wall, cpu, _ = timed(lambda: raw_hashing(leaves))
        raw_wall.append(wall)
        raw_cpu.append(cpu)
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_audit, ledger)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    best = {
        "verify_wall": n / min(verify_wall),
        "verify_cpu": n / min(verify_cpu),
        "raw_wall": n / min(raw_wall),
        "raw_cpu": n / min(raw_cpu),
        "read_wall": n / min(read_wall),
        "command_wall": n / min(command_wall),
        "read_all_wall": n / min(read_all_wall),
        "verify_wall_median": n / statistics.median(verify_wall),
    }
    return {
        "events": n,
        "leaf_bytes_mean": sum(map(len, leaves)) / n,
        "nodes": report.nodes_checked,
        **best,
    }


# -- appends with and without the integrity write path ------------------------------------


def appends(
    with_: QPLedger, without: QPLedger, count: int, rounds: int, codes: list[str]
) -> dict[str, float]:
    """Seconds per kind: application executes, then single-event recorder inserts."""
    totals = dict.fromkeys(
        ("execute_with", "execute_without", "insert_with", "insert_without"), 0.0
    )
    per_round = max(1, count // rounds)
    streams = {id(app): uuid.uuid4() for app in (with_, without)}
    versions = dict.fromkeys(streams.values(), 0)
    payload = json.dumps(command("06F", 1)).encode()
    for r in range(rounds):
        order = [(with_, "with"), (without, "without")]
        if r % 2:
            order.reverse()
        for app, kind in order:
            start = time.perf_counter()
            for i in range(r * per_round, (r + 1) * per_round):
                app.execute(command(codes[i % len(codes)], i), actor="bench")
            totals[f"execute_{kind}"] += time.perf_counter() - start
        for app, kind in order:
            stream = streams[id(app)]
            start = time.perf_counter()
            for _ in range(per_round):
                versions[stream] += 1
                app.store.insert_events([StoredEvent(stream, versions[stream], TOPIC, payload)])
            totals[f"insert_{kind}"] += time.perf_counter() - start
    return {key: per_round * rounds / seconds for key, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--sqlite", action="store_true", help="SQLite files in a temp dir")
    where.add_argument("--url", default=server_url(), help="any database on the PG server")
    parser.add_argument("--events", type=int, default=100_000, help="events in the log")
    parser.add_argument("--streams", type=int, default=200, help="streams they spread over")
    parser.add_argument("--repeats", type=int, default=3, help="verify/raw repetitions")
    parser.add_argument("--appends", type=int, default=1000, help="appends of each kind")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved append rounds")
    parser.add_argument("--ccgs", type=int, default=10, help="CCG records the executes use")
    parser.add_argument("--profile", action="store_true", help="cProfile one audit")
    args = parser.parse_args()

    with databases(args.sqlite, args.url) as (url_a, url_b):
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        payload = realistic_payload(url_a)
        ledger = QPLedger(url_a)
        plain = QPLedger(url_b, env={"PERSISTENCE_MODULE": get_topic(PlainFactory)})
        try:
            built = build_log(ledger, args.events, args.streams, payload)
            verify = verify_vs_raw(ledger, args.repeats, args.profile)
            codes = list(ccgs())[: args.ccgs]
            for k, code in enumerate(codes):  # open every record in both, and warm up
                for app in (ledger, plain):
                    app.execute(command(code, -k - 1), actor="bench")
            rates = appends(ledger, plain, args.appends, args.rounds, codes)
        finally:
            ledger.close()
            plain.close()

    print(f"machine: {machine()}; backend {backend}")
    print(
        f"log: {verify['events']} events in {args.streams} streams (built in {built:.1f} s), "
        f"{verify['nodes']} stored nodes, leaves of {verify['leaf_bytes_mean']:.0f} bytes"
    )
    print("                                   wall (best)     CPU of this process")
    print(
        f"verify  audit()                 {verify['verify_wall']:11,.0f}/s   "
        f"{verify['verify_cpu']:11,.0f}/s   (median wall {verify['verify_wall_median']:,.0f}/s)"
    )
    print(
        f"raw     sha256(leaf).digest()   {verify['raw_wall']:11,.0f}/s   "
        f"{verify['raw_cpu']:11,.0f}/s"
    )
    print(
        f"ratio   verify / raw            {verify['verify_wall'] / verify['raw_wall']:11.3f}    "
        f"{verify['verify_cpu'] / verify['raw_cpu']:11.3f}    (goal >= 0.5)"
    )
    print(
        f"read    driver, same rows       {verify['read_wall']:11,.0f}/s   "
        "(the audit's query and every stored node, rows discarded)"
    )
    print(
        f"ratio   verify / raw read       {verify['verify_wall'] / verify['read_wall']:11.3f}"
        "                   (goal >= 0.5, issue 11)"
    )
    print(
        f"verify  every table (the CLI)   {verify['command_wall']:11,.0f}/s   "
        "(audit, stored tree, index, snapshots, idempotency and key codes, sealed words)"
    )
    print(
        f"read    driver, every table     {verify['read_all_wall']:11,.0f}/s   "
        "(the above, and every row of the other tables verify checks, once)"
    )
    print(
        f"ratio   every table / raw read  {verify['command_wall'] / verify['read_all_wall']:11.3f}"
        "                   (goal >= 0.5, issue 11: all of verify)"
    )
    total = args.appends // args.rounds * args.rounds
    print(f"appends: {total} of each kind in {args.rounds} interleaved rounds")
    for level, name in (("execute", "QPLedger.execute"), ("insert", "recorder.insert_events")):
        with_, without = rates[f"{level}_with"], rates[f"{level}_without"]
        print(
            f"{name:<24} with integrity {with_:8.1f}/s   without {without:8.1f}/s   "
            f"ratio {with_ / without:.3f}   (+{(1 / with_ - 1 / without) * 1000:.2f} ms/append)"
        )


if __name__ == "__main__":
    main()
