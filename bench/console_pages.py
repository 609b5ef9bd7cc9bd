"""Console page load on the demo year: the overview and 06F's decision (issue 13: < 300 ms).

Loads the whole demo year into a scratch SQLite file (``qp-ledger demo``'s
commands), builds the read models, signs in through the console's own form,
then times full page renders through Flask's test client (server time: the
HTML a browser receives, without network or paint). Prints median and p95;
asserts nothing.

    python bench/console_pages.py [--samples 30]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the repository root: tests.api.apikit

from ledger.demo.year import demo_commands
from tests.api.apikit import build, ledger_of, project, tokens_of

PAGES = {
    "overview (211 CCGs)": "/console/overview",
    "06F decision + timeline": "/console/ccgs/06F/qp-2013-14",
    "06F replay at a position": "/console/ccgs/06F/qp-2013-14?position=5000",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qp-console-bench-"))
    app = build(f"sqlite:///{folder / 'bench.db'}")
    ledger = ledger_of(app)
    started = time.perf_counter()
    ledger.import_lines([json.dumps(c) for c in demo_commands()])
    project(ledger)
    print(f"demo year loaded and projected in {time.perf_counter() - started:.1f}s")
    client = app.test_client()
    _, token = tokens_of(app).create("board", None)
    page = client.get("/console/sign-in").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    client.post("/console/sign-in", data={"token": token, "csrf_token": found.group(1)})
    for name, path in PAGES.items():
        assert client.get(path).status_code == 200, path  # warm
        times = []
        for _ in range(args.samples):
            t = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"{name:28} median {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms")
    ledger.close()


if __name__ == "__main__":
    main()
