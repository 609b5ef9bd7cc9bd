"""Evidence bundles for a 10,000-event record: export and verify time, against raw SHA-256.

Issue 11 ("Bench: bundle export and verify time for a 10k-event record").
One CCG's record gets a demo year and then ``--events`` more events (population
corrections, each a real command through the ledger), its decision is issued,
and then, ``--repeats`` times:

* **export**: ``ledger.integrity.bundle_export.export_bundle`` — what
  ``qp-ledger bundle export`` and ``GET …/bundle`` run: sign a checkpoint,
  read the record's leaves and the issue event, build an inclusion proof for
  each (nodes fetched in batches), a consistency proof — plus ``json.dumps``
  of the file;
* **verify**: ``json.loads`` of the file and ``ledger.integrity.bundle.verify_bundle``
  — what ``qp-ledger bundle verify`` runs, with no database: the signature,
  every inclusion proof, the chain, the issue event, rebuilding the facts
  from the payloads and re-running the engine;
* **raw**: ``hashlib.sha256`` over exactly the bundle's leaf bytes, in
  memory, in the same run: the floor (verify also hashes every proof path
  and decodes every payload, so it cannot come close to it).

Asserts nothing; prints medians and events/s.

    python bench/bundle_throughput.py [--sqlite | --url URL] [--events 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import machine, scratch_postgres

from ledger.demo.year import demo_commands
from ledger.integrity.bundle import verify_bundle
from ledger.integrity.signing import load_signer
from ledger.service.application import QPLedger
from ledger.service.bundles import export_bundle

SCHEME = "qp-2013-14"
ORIGIN = "qp-ledger.bench/bundle"


def build(url: str, events: int) -> tuple[str, str]:
    """A record of about ``events`` events for the first demo CCG, its decision issued."""
    ledger = QPLedger(url)
    try:
        year = demo_commands(limit=1)
        ccg = year[0]["ccg"]
        corrections = (
            {
                "type": "population_recorded",
                "ccg": ccg,
                "scheme": SCHEME,
                "population": 300_000 + i,
                "source": f"ONS correction {i}",
            }
            for i in range(max(0, events - len(year)))
        )
        lines = (json.dumps(c) for c in [*year[:1], *corrections, *year[1:]])
        report = ledger.import_lines(lines)
        assert report.rejected == 0, report.errors[:3]
        issue_id = ledger.determinations.issue(ccg, SCHEME, actor="bench", force=True)["issue_id"]
        return ccg, str(issue_id)
    finally:
        ledger.close()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run(url: str, events: int, repeats: int, key: Path) -> None:
    ccg, issue_id = build(url, events)
    signer = load_signer(key, ORIGIN)[0]
    ledger = QPLedger(url)
    exports, verifies, raws = [], [], []
    vkey = str(signer.verifier)
    try:
        for _ in range(repeats):
            seconds, text = timed(
                lambda: json.dumps(export_bundle(ledger, signer, ccg, SCHEME, issue_id))
            )
            exports.append(seconds)
            seconds, report = timed(lambda t=text: verify_bundle(json.loads(t), vkey))
            assert report.ok, report.problems
            verifies.append(seconds)
            bundle = json.loads(text)
            leaves = [base64.b64decode(e["leaf"]) for e in bundle["record"]["events"]]
            seconds, _ = timed(lambda ls=leaves: [hashlib.sha256(b"\0" + x).digest() for x in ls])
            raws.append(seconds)
    finally:
        ledger.close()
    n = len(bundle["record"]["events"])
    export_s, verify_s, raw_s = (statistics.median(x) for x in (exports, verifies, raws))
    print(f"record: {n} events of {ccg}; bundle {len(text) / 1e6:.1f} MB; {machine()}")
    print(f"export: {export_s:.2f} s  ({n / export_s:,.0f} events/s)")
    print(f"verify: {verify_s:.2f} s  ({n / verify_s:,.0f} events/s)")
    print(f"raw SHA-256 of the same leaves: {raw_s * 1000:.1f} ms  ({n / raw_s:,.0f} events/s)")
    print(f"verify / raw: {raw_s / verify_s:.3f}x the raw rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--sqlite", action="store_true", help="a scratch SQLite file")
    where.add_argument("--url", help="a PostgreSQL server URL (a scratch database is made)")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        key = Path(scratch) / "signing.key"
        if args.sqlite:
            print("SQLite")
            run(f"sqlite:///{scratch}/bench.db", args.events, args.repeats, key)
        else:
            print("PostgreSQL")
            with scratch_postgres(args.url) as url:
                run(url, args.events, args.repeats, key)


if __name__ == "__main__":
    main()
