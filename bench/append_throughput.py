"""Appends/s through the application ÷ raw psycopg2 single-row commits/s (issue 2, item 11).

Both are measured in the same run, on the same PostgreSQL server, in one
scratch database this script creates and drops (``qp_bench_<pid>``):

* **ledger**: ``QPLedger.execute`` of one ``measure_submitted`` command at a
  time (parse, take the CCG's record as this process last saved it, check
  the rules, save: lock the log and read its write state, insert the event
  with its index, Merkle and idempotency rows, commit -- 4 round trips, see
  ``bench/write_round_trips.py``; a snapshot every 50 events), round-robin
  over ``--ccgs`` CCGs;
* **raw**: psycopg2, one ``INSERT`` of one row into a table shaped like the
  events table (same columns, same unique key, a payload of the same size)
  followed by ``COMMIT``, per row.

The two are interleaved in ``--rounds`` rounds so drift in the machine's load
affects both alike. Prints both rates and the ratio; asserts nothing.

``--threads N`` runs each side from N threads at once (the ledger's through
one ``QPLedger``, as a server process's request threads; raw with one
connection each), to measure group commit (docs/storage.md): with
``--ccgs`` at least N, thread *t* writes to CCG *t* only.

    python bench/append_throughput.py [--events 2000] [--threads 1] [--url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable

import psycopg2
from _common import RAW_INSERT, RAW_TABLE, machine, psycopg2_dsn, scratch_postgres, server_url
from _common import measure_command as command

from ledger.domain.ccgs import ccgs
from ledger.service.application import QPLedger


def in_threads(threads: int, appends: Callable[[int, range], object], start: int, n: int) -> float:
    """Wall seconds for appends ``start .. start + n - 1``, thread ``t`` taking every ``t``-th."""
    workers = [
        threading.Thread(target=appends, args=(t, range(start + t, start + n, threads)))
        for t in range(threads)
    ]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0


def ledger_appends(ledger: QPLedger, codes: list[str], numbers: range) -> None:
    """Execute one command per number through the application, one at a time."""
    for i in numbers:
        ledger.execute(command(codes[i % len(codes)], i), actor="bench")


def raw_appends(conn: psycopg2.extensions.connection, payload: bytes, numbers: range) -> None:
    """One single-row INSERT + COMMIT round trip through psycopg2 per number."""
    streams = [uuid.UUID(int=k + 1) for k in range(10)]
    cur = conn.cursor()
    for i in numbers:
        cur.execute(
            RAW_INSERT,
            (
                str(streams[i % 10]),
                i,
                "ledger.domain.record:CCGPremiumRecord.MeasureSubmitted",
                payload,
            ),
        )
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=2000, help="appends of each kind")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--ccgs", type=int, default=10, help="CCG streams to spread over")
    parser.add_argument("--threads", type=int, default=1, help="concurrent writers of each kind")
    parser.add_argument("--url", default=server_url(), help="any database on the server")
    args = parser.parse_args()

    with scratch_postgres(args.url) as url:
        ledger = QPLedger(url)
        codes = list(ccgs())[: args.ccgs]
        # Warm up: open every record (first event) and the connection pool.
        for k, code in enumerate(codes):
            ledger.execute(command(code, -k - 1), actor="bench")
        with ledger.store.datastore.engine.connect() as c:  # type: ignore[union-attr]
            size = c.exec_driver_sql("SELECT avg(length(state))::int FROM qpledger_events").scalar()
        payload = json.dumps({"pad": "x" * max(0, int(size or 200) - 12)}).encode()

        conns = [psycopg2.connect(psycopg2_dsn(url)) for _ in range(args.threads)]
        conns[0].cursor().execute(RAW_TABLE)
        conns[0].commit()
        raw_appends(conns[0], payload, range(10**9, 10**9 + 50))  # warm up

        def raw(t: int, numbers: range) -> None:
            raw_appends(conns[t], payload, numbers)

        def through_ledger(t: int, numbers: range) -> None:
            ledger_appends(ledger, codes, numbers)

        per_round = max(1, args.events // args.rounds)
        t_ledger = t_raw = 0.0
        for r in range(args.rounds):
            t_raw += in_threads(args.threads, raw, r * per_round, per_round)
            t_ledger += in_threads(args.threads, through_ledger, r * per_round, per_round)
        total = per_round * args.rounds
        grouped = getattr(ledger.store, "group_commit", None)
        for conn in conns:
            conn.close()
        ledger.close()

    ledger_rate = total / t_ledger
    raw_rate = total / t_raw
    print(f"machine: {machine()}")
    print(
        f"events per kind: {total} in {args.rounds} interleaved rounds, {len(codes)} CCG streams, "
        f"{args.threads} thread(s) each"
    )
    if grouped is not None:
        print(f"group commit: {grouped.stats}")
    print(f"ledger  QPLedger.execute       {ledger_rate:9.1f} appends/s")
    print(f"raw     psycopg2 INSERT+COMMIT {raw_rate:9.1f} commits/s  ({len(payload)} B payload)")
    print(f"ratio   ledger / raw           {ledger_rate / raw_rate:9.3f}  (goal >= 0.5, 1 client)")


if __name__ == "__main__":
    main()
