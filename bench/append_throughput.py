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

    python bench/append_throughput.py [--events 2000] [--url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import psycopg2
from _common import machine, psycopg2_dsn, scratch_postgres, server_url
from _common import measure_command as command

from ledger.domain.ccgs import ccgs
from ledger.service.application import QPLedger

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


def ledger_appends(ledger: QPLedger, codes: list[str], start: int, n: int) -> float:
    """Seconds to execute ``n`` commands through the application, one at a time."""
    t0 = time.perf_counter()
    for i in range(start, start + n):
        ledger.execute(command(codes[i % len(codes)], i), actor="bench")
    return time.perf_counter() - t0


def raw_appends(conn: psycopg2.extensions.connection, payload: bytes, start: int, n: int) -> float:
    """Seconds for ``n`` single-row INSERT + COMMIT round trips through psycopg2."""
    streams = [uuid.UUID(int=k + 1) for k in range(10)]
    cur = conn.cursor()
    t0 = time.perf_counter()
    for i in range(start, start + n):
        cur.execute(
            "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)",
            (
                str(streams[i % 10]),
                i,
                "ledger.domain.record:CCGPremiumRecord.MeasureSubmitted",
                payload,
            ),
        )
        conn.commit()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=2000, help="appends of each kind")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--ccgs", type=int, default=10, help="CCG streams to spread over")
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

        conn = psycopg2.connect(psycopg2_dsn(url))
        conn.cursor().execute(RAW_TABLE)
        conn.commit()
        raw_appends(conn, payload, 10**9, 50)  # warm up

        per_round = max(1, args.events // args.rounds)
        t_ledger = t_raw = 0.0
        for r in range(args.rounds):
            t_raw += raw_appends(conn, payload, r * per_round, per_round)
            t_ledger += ledger_appends(ledger, codes, r * per_round, per_round)
        total = per_round * args.rounds
        conn.close()
        ledger.close()

    ledger_rate = total / t_ledger
    raw_rate = total / t_raw
    print(f"machine: {machine()}")
    print(f"events per kind: {total} in {args.rounds} interleaved rounds, {len(codes)} CCG streams")
    print(f"ledger  QPLedger.execute       {ledger_rate:9.1f} appends/s")
    print(f"raw     psycopg2 INSERT+COMMIT {raw_rate:9.1f} commits/s  ({len(payload)} B payload)")
    print(f"ratio   ledger / raw           {ledger_rate / raw_rate:9.3f}")


if __name__ == "__main__":
    main()
