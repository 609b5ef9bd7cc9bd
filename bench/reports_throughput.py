"""Reporting GET requests/s ÷ a bare Flask JSON endpoint (issue 4, item 7).

Starts the real server, ``qp-ledger serve --demo --projector`` (gunicorn,
``gthread`` workers; the read models projected in the server's master
process), on a scratch PostgreSQL database it creates and drops
(``qp_bench_<pid>``) — or, with ``--sqlite``, on a SQLite file in a temporary
directory — and polls ``GET /reports/status`` until every read model is built
and its lag is 0 (``--catch-up-timeout``). It creates a ``reporter`` token with
``qp-ledger tokens create`` and then measures, with ``--clients`` (16)
concurrent keep-alive clients (threads, one ``http.client`` connection each,
on 127.0.0.1 only):

* ``GET /reports/summaries?scheme=qp-2013-14&group_by=region``;
* ``GET /reports/decisions?scheme=qp-2013-14&page_size=50`` (the reports page
  with ``page``/``page_size``; there is no ``limit`` parameter);
* ÷ a **bare Flask** app returning the very same JSON bodies with ``jsonify``
  at the same paths, served by the same ``serve`` command in a second process
  (same gunicorn settings: workers, threads, worker class, access log) with
  only the WSGI app swapped — one bare kind per body, so each ratio compares
  equal payloads.

Each kind runs for ``--seconds`` in all (8: at most ~8 s a phase), split into
``--rounds`` interleaved slices after a 1 s warm-up. Prints rates, p50/p99
latency and the ratios; asserts nothing; stops by itself.

    python bench/reports_throughput.py [--seconds 8] [--rounds 2] [--clients 16] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from _common import machine, scratch_database, server_url
from _servers import bare_command, create_token, free_port, qp_ledger, serve_options, server
from api_throughput import WARM_UP_SECONDS, Client, Tally, fetch, http_client, run_clients

from api.config import DEFAULT_THREADS, DEFAULT_WORKERS

SCHEME = "qp-2013-14"
SUMMARIES = f"/reports/summaries?scheme={SCHEME}&group_by=region"
DECISIONS = f"/reports/decisions?scheme={SCHEME}&page_size=50"


def wait_caught_up(port: int, token: str, limit: float) -> dict[str, Any]:
    """Poll ``GET /reports/status`` until every read model is built with lag 0."""
    deadline = time.monotonic() + limit
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = json.loads(fetch(port, "/reports/status", token))
        except SystemExit:  # a 503 while the read models are first created
            time.sleep(0.5)
            continue
        states = status.get("projections", {}).values()
        if states and all(s["built"] and s["lag_positions"] == 0 for s in states):
            return status
        time.sleep(0.5)
    raise SystemExit(f"read models not caught up after {limit} s: {status}")


def measure(args: argparse.Namespace) -> None:
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"machine: {machine()}; {backend}; load average {os.getloadavg()[0]:.2f}")
    with scratch_database(args) as url:
        api_port, bare_port = free_port(), free_port()
        started = time.perf_counter()
        api = [*qp_ledger(), "serve", *serve_options(api_port, args), "--demo", "--projector"]
        with server(api, url, api_port, logs / "api-server.log"):
            print(
                f"qp-ledger serve --demo --projector ready in {time.perf_counter() - started:.1f} s"
            )
            reporter = create_token(url, "reporter")
            status = wait_caught_up(api_port, reporter, args.catch_up_timeout)
            print(
                f"read models caught up {time.perf_counter() - started:.1f} s after start: "
                f"head {status['head']}, lag "
                + ", ".join(f"{n} {s['lag_positions']}" for n, s in status["projections"].items())
            )
            bodies = {}
            for name, path in (("summaries", SUMMARIES), ("decisions", DECISIONS)):
                bodies[name] = fetch(api_port, path, reporter)
                (logs / f"{name}.json").write_bytes(bodies[name])
            routes = {"/reports/summaries": logs / "summaries.json"}
            routes["/reports/decisions"] = logs / "decisions.json"
            bare = bare_command(routes, bare_port, args)
            with server(bare, url, bare_port, logs / "bare-server.log"):
                run_phases(args, api_port, bare_port, reporter, bodies)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def run_phases(
    args: argparse.Namespace, api_port: int, bare_port: int, token: str, bodies: dict[str, bytes]
) -> None:
    def get(path: str) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        return lambda i, n: ("GET", path, None, headers)

    kinds: dict[str, Client] = {
        "API GET summaries by region": http_client(api_port, get(SUMMARIES), 200),
        "bare Flask (summaries body)": http_client(bare_port, get(SUMMARIES), 200),
        "API GET decisions page of 50": http_client(api_port, get(DECISIONS), 200),
        "bare Flask (decisions body)": http_client(bare_port, get(DECISIONS), 200),
    }
    tallies = {name: Tally() for name in kinds}
    for client in kinds.values():  # warm up every worker, connection and cache
        run_clients(args.clients, WARM_UP_SECONDS, client, None)
    for _ in range(args.rounds):
        for name, client in kinds.items():
            run_clients(args.clients, args.seconds / args.rounds, client, tallies[name])

    print(
        f"{args.clients} clients; {args.seconds:g} s per kind in {args.rounds} interleaved "
        f"rounds; serve --workers {args.workers} --threads {args.threads}; bodies: "
        f"summaries {len(bodies['summaries'])} B, decisions {len(bodies['decisions'])} B"
    )
    for name in kinds:
        print(tallies[name].line(name, "req"))
    names = list(kinds)
    for api_name, bare_name in ((names[0], names[1]), (names[2], names[3])):
        api_t, bare_t = tallies[api_name], tallies[bare_name]
        ratio = api_t.rate / bare_t.rate if bare_t.rate else float("nan")
        print(f"ratio {api_name} / bare  {ratio:7.3f}  (goal >= 0.6)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per kind, all rounds")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    parser.add_argument("--url", default=server_url(), help="any database on the server")
    parser.add_argument("--catch-up-timeout", type=float, default=240.0, help="seconds")
    parser.add_argument("--logs", default="/tmp/qp-bench-reports", help="server logs go here")
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
