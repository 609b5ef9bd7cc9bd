"""Full rebuild events/s ÷ raw psycopg2 read rows/s of the same rows (issue 12, item 4).

In one scratch PostgreSQL database (``qp_bench_<pid>``, dropped after), the
demo year (211 CCGs, ~13k events) is imported, optionally ``--years`` times
over as resubmitted figures, then, interleaved over ``--rounds`` rounds:

* **raw read**: psycopg2, a server-side cursor over the rows a rebuild reads
  (``qpledger_events`` of the record topics, with their recorded time from
  ``qpledger_event_index``, by position), every row fetched, nothing
  decoded: rows/s;
* **fold + engine after every event**: the same events decoded and folded
  into CCG records with the engine deciding after each, nothing written --
  what the incremental projectors pay per event (context, not a goal);
* **rebuild**: ``projections rebuild`` of all three read models into fresh
  tables (``ledger/projections/bulk.py``: one streamed pass, the engine only
  where a row needs a decision) and the switch: events/s.

Prints the median of each and the ratio rebuild/raw with the goal beside it
(issue 12: >= 10x the 0.004 measured before, i.e. >= 0.04); asserts nothing.

    python bench/projection_rebuild.py [--rounds 3] [--years 1] [--url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import psycopg2
from _common import machine, psycopg2_dsn, scratch_postgres, server_url

from ledger.demo.year import demo_commands
from ledger.projections import RECORD_TOPICS, ReadModelDatabase, open_followed_ledger, rebuild
from ledger.projections.folding import DecisionFolder


def correction_year(year: int) -> list[str]:
    """Every figure of the year submitted again (a later resubmission supersedes it)."""
    return [
        json.dumps({**c, "reason": f"resubmission {year}"})
        for c in demo_commands()
        if c["type"] == "measure_submitted"
    ]


#: The ratio rebuild/raw measured before issue 12's work, and the goal (10x).
BEFORE_RATIO = 0.004
GOAL_RATIO = 10 * BEFORE_RATIO


def raw_read(dsn: str) -> tuple[int, float]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor(name="bench_scan") as cur:
            cur.itersize = 5000
            t0 = time.perf_counter()
            cur.execute(
                "SELECT e.id, i.recorded_us, e.originator_id, e.originator_version, e.topic, "
                "e.state FROM qpledger_events e "
                "JOIN qpledger_event_index i ON i.position = e.id "
                "WHERE e.topic = ANY(%s) ORDER BY e.id",
                (list(RECORD_TOPICS),),
            )
            rows = sum(1 for _ in cur)
            return rows, time.perf_counter() - t0
    finally:
        conn.close()


def fold_only(url: str) -> tuple[int, float]:
    ledger = open_followed_ledger(url)
    try:
        folder = DecisionFolder(ledger)
        t0 = time.perf_counter()
        position, events = 0, 0
        while True:
            page = ledger.recorder.select_notifications(
                start=position, limit=1000, topics=RECORD_TOPICS, inclusive_of_start=False
            )
            if not page:
                break
            folder.prepare(n.id for n in page)
            for n in page:
                folder.decision_after(ledger.mapper.to_domain_event(n), n.id)  # type: ignore[arg-type]
            events += len(page)
            position = page[-1].id
        return events, time.perf_counter() - t0
    finally:
        ledger.close()


def full_rebuild(url: str) -> tuple[int, float]:
    ledger = open_followed_ledger(url)
    db = ReadModelDatabase(url)
    try:
        t0 = time.perf_counter()
        results = rebuild(ledger, db)
        return results[0].events, time.perf_counter() - t0
    finally:
        ledger.close()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--years", type=int, default=1, help="demo year + N-1 correction passes")
    parser.add_argument("--url", default=server_url(), help="PostgreSQL server (any database)")
    args = parser.parse_args()
    with scratch_postgres(args.url) as url:
        ledger = open_followed_ledger(url)
        lines = [json.dumps(c) for c in demo_commands()]
        for year in range(2, args.years + 1):
            lines += correction_year(year)
        t0 = time.perf_counter()
        report = ledger.import_lines(lines, actor="bench", batch_size=500)
        assert report.rejected == 0, report.errors[:3]
        head = ledger.max_position()
        ledger.close()
        print(f"machine: {machine()}")
        print(f"log: {head} events imported in {time.perf_counter() - t0:.1f} s")
        dsn = psycopg2_dsn(url)
        raw, fold, built = [], [], []
        for _ in range(args.rounds):
            rows, seconds = raw_read(dsn)
            raw.append(rows / seconds)
            events, seconds = fold_only(url)
            fold.append(events / seconds)
            events, seconds = full_rebuild(url)
            built.append(events / seconds)
        r, f, b = (statistics.median(x) for x in (raw, fold, built))
        print(f"raw psycopg2 read             {r:>10,.0f} rows/s")
        print(f"fold + engine after each      {f:>10,.0f} events/s   ({f / r:.2%} of raw)")
        print(f"rebuild, 3 read models        {b:>10,.0f} events/s   ({b / r:.2%} of raw)")
        ratio = b / r
        verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
        print(
            f"ratio rebuild/raw: {ratio:.4f}  goal >= {GOAL_RATIO:.3f} (10x {BEFORE_RATIO}): "
            f"{verdict}  (median of {args.rounds} interleaved rounds)"
        )


if __name__ == "__main__":
    main()
