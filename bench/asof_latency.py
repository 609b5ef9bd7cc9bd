"""As-of decision latency for a CCG whose stream holds 1k, 10k and 100k events (issue 2, item 11).

One scratch database gets one CCG record per size (the largest is 06F's, in
qp-2013-14): a realistic year (population, local measures, thresholds,
submissions, a quality failure flagged and rescinded, a financial position),
then ``measure_submitted`` corrections imported through
``QPLedger.import_lines`` in batches until the stream holds 1k, 10k or 100k
events. The streams are built one after the other, smallest first, so the
1k stream lies in the first ~1k log positions and the 100k one in the last
100k: a replay of the larger stream also runs over a longer log.

Then ``QPLedger.decision`` — the full replay: resolve the point, find the
stream's version there, load the record from the nearest snapshot, look up
the event references, run the engine — is timed for each stream:

* ``position``: ``decision(ccg, ..., position=P)``, P uniform over the
  stream's span of the log;
* ``as_of``: ``decision(ccg, ..., as_of=T)``, T uniform between the stream's
  first and last recorded time.

Samples are taken in interleaved rounds (every size in each round, in a
shuffled order), so a busy machine slows all sizes alike and the ratios stay
meaningful. Prints p50/p99 per size and the ratios largest/smallest, measured
in this run; asserts nothing. The issue's goals: p99 < 20 ms at 10k; 100k
within 2x of 1k.

    python bench/asof_latency.py [--samples 200] [--sizes 1000,10000,100000]
                                 [--sqlite | --url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from _common import machine, percentile, scratch_database, server_url
from sqlalchemy import func, select

from ledger.domain.ccgs import ccgs
from ledger.domain.clock import us_to_iso
from ledger.domain.record import stream_id
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"

#: The corrections used to grow a stream: (measure, criterion) pairs that
#: need no prior state, cycled over the year and its quarters.
CORRECTABLE = [
    ("pyll", "pyll-rate"),
    ("avoidable-emergency-admissions", "admissions-rate"),
    ("friends-and-family", "experience-score"),
    ("hcai", "cdiff-cases"),
    ("local-1", "copd-admissions"),
]
PERIODS = ["2013-14-Q1", "2013-14-Q2", "2013-14-Q3", "2013-14-Q4", "2013-14"]


def year_of(ccg: str) -> list[dict[str, object]]:
    """The facts a decision rests on, so every replay exercises the whole engine."""
    base = {"ccg": ccg, "scheme": SCHEME}
    commands: list[dict[str, object]] = [
        {"type": "population_recorded", "population": 449953, "source": "ONS 2013"},
        {
            "type": "local_measures_selected",
            "measures": [
                {
                    "slot": "local-1",
                    "name": "COPD",
                    "criterion": "copd-admissions",
                    "direction": "lower",
                },
                {
                    "slot": "local-2",
                    "name": "Dementia diagnosis",
                    "criterion": "dementia-rate",
                    "direction": "higher",
                },
                {
                    "slot": "local-3",
                    "name": "Stroke AF",
                    "criterion": "af-anticoagulation",
                    "direction": "higher",
                },
            ],
        },
    ]
    thresholds = [
        ("pyll", "pyll-rate", 2100, 2050),
        ("avoidable-emergency-admissions", "admissions-rate", 1100, 1080),
        ("friends-and-family", "experience-score", 60, 62),
        ("hcai", "cdiff-cases", 120, 110),
        ("local-1", "copd-admissions", 300, 290),
        ("local-2", "dementia-rate", 0.5, 0.55),
        ("local-3", "af-anticoagulation", 0.6, 0.65),
    ]
    for measure, criterion, baseline, target in thresholds:
        agreed = {"baseline": baseline, "target": target}
        commands.append(
            {"type": "threshold_agreed", "measure": measure, "criterion": criterion, **agreed}
        )
        submitted = {"period": "2013-14", "value": target}
        commands.append(
            {"type": "measure_submitted", "measure": measure, "criterion": criterion, **submitted}
        )
    fixed = [("friends-and-family", "rollout", 1), ("hcai", "mrsa-cases", 0)]
    for measure, criterion, value in fixed:
        commands.append(
            {
                "type": "measure_submitted",
                "measure": measure,
                "criterion": criterion,
                "period": "2013-14",
                "value": value,
            }
        )
    commands += [
        {
            "type": "constitution_standard_submitted",
            "standard": "ae-4-hours",
            "period": "2013-14",
            "value": 0.94,
        },
        {"type": "quality_failure_flagged", "flag_id": "qf-1", "description": "bench"},
        {"type": "quality_failure_rescinded", "flag_id": "qf-1"},
        {"type": "financial_position_declared", "outturn": "balanced", "amount_pence": 0},
    ]
    return [{**base, **c} for c in commands]


def corrections(ccg: str, start: int, count: int) -> Iterator[str]:
    for i in range(start, start + count):
        measure, criterion = CORRECTABLE[i % len(CORRECTABLE)]
        yield json.dumps(
            {
                "type": "measure_submitted",
                "ccg": ccg,
                "scheme": SCHEME,
                "measure": measure,
                "criterion": criterion,
                "period": PERIODS[(i // len(CORRECTABLE)) % len(PERIODS)],
                "value": 1000 + i % 997,
                "reason": "late correction",
            }
        )


def build(ledger: QPLedger, ccg: str, size: int, batch: int) -> float:
    """Give the CCG its year, then corrections until its stream holds ``size`` events."""
    t0 = time.perf_counter()
    ledger.import_lines((json.dumps(c) for c in year_of(ccg)), actor="bench")
    have = ledger.stream_version(ccg, SCHEME)
    report = ledger.import_lines(
        corrections(ccg, have, size - have), actor="bench", batch_size=batch
    )
    assert report.rejected == 0, report.errors[:3]
    return time.perf_counter() - t0


@dataclass(frozen=True)
class Span:
    """Where a stream lies in the log: its first and last position and recorded time."""

    first: int
    last: int
    first_us: int
    last_us: int


def span(ledger: QPLedger, ccg: str) -> Span:
    idx = ledger.store.index
    mine = idx.c.originator_id == str(stream_id(ccg, SCHEME))
    query = select(
        func.min(idx.c.position),
        func.max(idx.c.position),
        func.min(idx.c.recorded_us),
        func.max(idx.c.recorded_us),
    ).where(mine)
    with ledger.store.datastore.engine.connect() as conn:  # type: ignore[union-attr]
        row = conn.execute(query).one()
    return Span(*(int(v) for v in row))


def timed(ledger: QPLedger, ccg: str, **point: object) -> float:
    t0 = time.perf_counter()
    ledger.decision(ccg, SCHEME, **point)  # type: ignore[arg-type]
    return (time.perf_counter() - t0) * 1000


def measure(
    ledger: QPLedger, streams: dict[int, str], samples: int, rng: random.Random
) -> dict[int, dict[str, list[float]]]:
    """Interleaved rounds: every size once per round, in a shuffled order."""
    spans = {size: span(ledger, ccg) for size, ccg in streams.items()}
    out: dict[int, dict[str, list[float]]] = {s: {"position": [], "as_of": []} for s in streams}
    sizes = list(streams)
    for round_ in range(samples + 5):  # the first 5 rounds warm caches and the pool
        rng.shuffle(sizes)
        for size in sizes:
            ccg, where = streams[size], spans[size]
            by_position = timed(ledger, ccg, position=rng.randint(where.first, where.last))
            moment = us_to_iso(rng.randint(where.first_us, where.last_us))
            by_time = timed(ledger, ccg, as_of=moment)
            if round_ >= 5:
                out[size]["position"].append(by_position)
                out[size]["as_of"].append(by_time)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=200, help="per size and kind")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--batch", type=int, default=500, help="import batch size")
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--url", default=server_url(), help="PostgreSQL server (any database)")
    parser.add_argument("--sqlite", action="store_true", help="use a scratch SQLite file")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    others = [code for code in ccgs() if code != "06F"]
    streams = {size: ("06F" if size == sizes[-1] else others.pop(0)) for size in sizes}
    rng = random.Random(args.seed)

    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(args))
        ledger = QPLedger(url)
        stack.callback(ledger.close)
        print(f"machine: {machine()}; backend: {url.split(':', 1)[0]}")
        built = {size: build(ledger, streams[size], size, args.batch) for size in sizes}
        print(
            f"log: {ledger.max_position()} events; built in "
            + ", ".join(f"{size} ({streams[size]}): {built[size]:.1f} s" for size in sizes)
        )
        results = measure(ledger, streams, args.samples, rng)

    print(
        f"{'events':>8} {'ccg':>4} {'pos p50':>8} {'pos p99':>8} {'asof p50':>9} "
        f"{'asof p99':>9}   (ms, {args.samples} samples each, interleaved)"
    )
    for size in sizes:
        r = results[size]
        print(
            f"{size:>8} {streams[size]:>4} {percentile(r['position'], 50):>8.2f} "
            f"{percentile(r['position'], 99):>8.2f} {percentile(r['as_of'], 50):>9.2f} "
            f"{percentile(r['as_of'], 99):>9.2f}"
        )
    small, large = results[sizes[0]], results[sizes[-1]]
    for kind in ("position", "as_of"):
        ratios = [percentile(large[kind], pct) / percentile(small[kind], pct) for pct in (50, 99)]
        print(f"ratio {sizes[-1]}/{sizes[0]} {kind:<8} p50 {ratios[0]:.2f}  p99 {ratios[1]:.2f}")


if __name__ == "__main__":
    main()
