"""Writes to the README's server while its read models catch up (issue 9, item 1).

Starts ``qp-ledger serve --demo`` on a fresh SQLite file in a temporary
directory (the README's first command), creates a ``ccg`` token for 06F, and
sends ``POST …/measure-values`` one after another (the README's walkthrough
is one user at a terminal) in two phases:

* **catching up**: from the moment ``/health`` answers until every read model
  has caught up with the log (the projector process is working through the
  demo year's 13,000 events and taking SQLite's write lock batch by batch);
* **baseline**: the same number of writes, same server, once the projector
  is idle.

Prints count, failures, p50/p99/max latency of each phase and the ratio
catching-up p99 ÷ baseline p99 (1.0: the projector costs writers nothing).
Before the fix (projector threads in the gunicorn master), the first phase
failed with 500 ``database is locked`` after 5 s waits. Asserts nothing;
stops by itself.

    python bench/first_hour.py [--max-writes 400]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, percentile

QP_LEDGER = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"
RECORD = "/ccgs/06F/schemes/qp-2013-14"


def call(base: str, method: str, path: str, token: str | None = None, body: object = None):
    req = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode()
    )
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, data = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    return status, data, time.perf_counter() - started


def behind(base: str) -> int:
    health = json.loads(call(base, "GET", "/health")[1])["projections"]
    return max(p["lag_positions"] for p in health["projections"].values())


def phase(base: str, token: str, n: int, offset: int, until_caught_up: bool) -> dict:
    seconds, failures = [], 0
    for i in range(n):
        if until_caught_up and i % 10 == 0 and behind(base) == 0:
            break
        body = {"measure": "hcai", "criterion": "cdiff-cases", "period": "2013-14",
                "value": 60 + (offset + i) % 20}  # fmt: skip
        status, _, took = call(base, "POST", f"{RECORD}/measure-values", token, body)
        seconds.append(took)
        failures += status != 201
    return {
        "writes": len(seconds),
        "failed": failures,
        "p50_ms": 1000 * percentile(seconds, 50),
        "p99_ms": 1000 * percentile(seconds, 99),
        "max_ms": 1000 * max(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-writes", type=int, default=400)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qp-first-hour-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    with (folder / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [QP_LEDGER, "serve", "--demo", "--port", str(port)],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        for _ in range(600):
            try:
                if call(base, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        token = subprocess.run(
            [QP_LEDGER, "tokens", "create", "--role", "ccg", "--org", "06F"],
            cwd=folder, env=env, capture_output=True, text=True, check=True,
        ).stdout.split()[-1]  # fmt: skip
        started = time.perf_counter()
        catching_up = phase(base, token, args.max_writes, 0, until_caught_up=True)
        catching_up["seconds"] = time.perf_counter() - started
        while behind(base):
            time.sleep(0.5)
        baseline = phase(base, token, catching_up["writes"], 10_000, until_caught_up=False)
        locked = (folder / "serve.log").read_text(errors="replace").count("database is locked")
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(60)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"first hour: serve --demo on SQLite ({machine()})")
    for name, p in (("catching up", catching_up), ("baseline (idle)", baseline)):
        print(
            f"  {name:<16} {p['writes']:>4} writes, {p['failed']} failed, p50 "
            f"{p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, max {p['max_ms']:.1f} ms"
        )
    print(f"  'database is locked' in the server log: {locked}")
    print(f"  ratio p99 catching up / p99 idle: {catching_up['p99_ms'] / baseline['p99_ms']:.2f}")


if __name__ == "__main__":
    main()
