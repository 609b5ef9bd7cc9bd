"""HTTP API throughput on PostgreSQL, with same-run baselines (issue 3, item 7).

Starts the real server (``qp-ledger serve --demo``: gunicorn, ``gthread``
workers) on a scratch PostgreSQL database it creates and drops
(``qp_bench_<pid>``), creates tokens with ``qp-ledger tokens create``, and
measures, with ``--clients`` (16) concurrent keep-alive clients (threads, one
``http.client`` connection each, on 127.0.0.1 only):

* **writes**: ``POST …/measure-values`` (a ``measure_submitted`` command) to
  ``--ccgs`` CCGs, with a ``ccg`` token per CCG (measure values are the CCG's to
  submit) ÷ **raw** psycopg2 single-row ``INSERT`` + ``COMMIT`` from the same
  number of threads (one connection each) into a table shaped like the events
  table, in the same database;
* **reads**: ``GET …/decision``, now and pinned with ``?position=`` to the
  log head before the writes (Board token; round-robin over the demo's
  CCGs) ÷ a **bare Flask** endpoint returning one decision document with
  ``jsonify``, served by the same ``serve`` command (same gunicorn settings:
  workers, threads, worker class, access log) with only the WSGI app swapped.

Each kind runs for ``--seconds`` in all, split into ``--rounds`` interleaved
slices (after a short warm-up), so drift in the machine's load affects both
sides of a ratio alike. Prints rates, p50/p99 latency and the ratios; asserts
nothing; stops by itself.

    python bench/api_throughput.py [--seconds 10] [--rounds 2] [--clients 16] [--ccgs 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from _common import (
    RAW_INSERT,
    RAW_TABLE,
    machine,
    percentile,
    psycopg2_dsn,
    scratch_postgres,
    server_url,
)
from _servers import (
    DECISION_ROUTE,
    HOST,
    bare_command,
    create_token,
    free_port,
    qp_ledger,
    serve_options,
    server,
)

from api.config import DEFAULT_THREADS, DEFAULT_WORKERS

SCHEME = "qp-2013-14"
WARM_UP_SECONDS = 1.0
# -- load -------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latencies: list[float], errors: dict[str, int]) -> None:
        with self.lock:
            self.latencies += latencies
            for k, v in errors.items():
                self.errors[k] = self.errors.get(k, 0) + v

    def line(self, name: str, unit: str) -> str:
        n = len(self.latencies)
        rate = n / self.seconds if self.seconds else 0.0
        if not n:
            return f"{name:<34} no successful requests; errors {self.errors}"
        p50 = percentile(self.latencies, 50) * 1000
        p99 = percentile(self.latencies, 99) * 1000
        errors = f"  errors {self.errors}" if self.errors else ""
        return (
            f"{name:<34} {rate:8.1f} {unit}/s  p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  "
            f"({n} in {self.seconds:.1f} s){errors}"
        )

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


#: One client's loop: (client index, deadline) -> (latencies of successes, errors by kind).
Client = Callable[[int, float], tuple[list[float], dict[str, int]]]


def run_clients(clients: int, seconds: float, client: Client, tally: Tally | None) -> None:
    """``clients`` threads each running ``client`` until the deadline; all start together."""
    start = threading.Barrier(clients + 1)
    deadline = [0.0]
    results: list[tuple[list[float], dict[str, int]]] = []
    guard = threading.Lock()

    def work(i: int) -> None:
        start.wait()
        outcome = client(i, deadline[0])
        with guard:
            results.append(outcome)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if tally is not None:
        tally.seconds += elapsed
        for latencies, errors in results:
            tally.add(latencies, errors)


def http_client(
    port: int, request: Callable[[int, int], tuple[str, str, bytes | None, dict[str, str]]], ok: int
) -> Client:
    """A keep-alive client sending ``request(client, n)`` until the deadline."""

    def loop(i: int, deadline: float) -> tuple[list[float], dict[str, int]]:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies: list[float] = []
        errors: dict[str, int] = {}
        n = 0
        while time.monotonic() < deadline:
            method, path, body, headers = request(i, n)
            n += 1
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                continue
            elapsed = time.perf_counter() - t0
            if response.status == ok:
                latencies.append(elapsed)
            else:
                errors[str(response.status)] = errors.get(str(response.status), 0) + 1
        conn.close()
        return latencies, errors

    return loop


def raw_client(dsn: str, payload: bytes, clients: int) -> Client:
    """Single-row INSERT + COMMIT per round trip, one connection per thread."""
    versions = iter(range(10**12))
    version_lock = threading.Lock()

    def loop(i: int, deadline: float) -> tuple[list[float], dict[str, int]]:
        conn = psycopg2.connect(dsn)
        cur = conn.cursor()
        stream = str(uuid.uuid4())
        latencies: list[float] = []
        while time.monotonic() < deadline:
            with version_lock:
                version = next(versions)
            t0 = time.perf_counter()
            cur.execute(
                RAW_INSERT,
                (
                    stream,
                    version,
                    "ledger.domain.record:CCGPremiumRecord.MeasureSubmitted",
                    payload,
                ),
            )
            conn.commit()
            latencies.append(time.perf_counter() - t0)
        conn.close()
        return latencies, {}

    return loop


# -- the run ----------------------------------------------------------------------


def measure(args: argparse.Namespace) -> None:
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    with scratch_postgres(args.url) as url:
        api_port, bare_port = free_port(), free_port()
        started = time.perf_counter()
        api = [*qp_ledger(), "serve", *serve_options(api_port, args), "--demo"]
        with server(api, url, api_port, logs / "api-server.log"):
            print(f"qp-ledger serve --demo ready in {time.perf_counter() - started:.1f} s")
            board = create_token(url, "board")
            codes = demo_codes(api_port, board)
            writers = codes[: args.ccgs]
            ccg_tokens = {code: create_token(url, "ccg", code) for code in writers}
            document = fetch(api_port, f"/ccgs/{codes[0]}/schemes/{SCHEME}/decision", board)
            # Reads pinned to a position name the log as it stood before the writes.
            args.position = json.loads(document)["position"]
            doc_file = logs / "decision.json"
            doc_file.write_bytes(document)
            bare = bare_command({DECISION_ROUTE: doc_file}, bare_port, args)
            with server(bare, url, bare_port, logs / "bare-server.log"):
                run_phases(args, url, api_port, bare_port, board, codes, ccg_tokens, len(document))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def demo_codes(port: int, token: str) -> list[str]:
    ccgs = json.loads(fetch(port, "/reference/ccgs", token))["ccgs"]
    return [c["ods_code"] for c in ccgs]


def fetch(port: int, path: str, token: str) -> bytes:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:200]!r}")
    return body


def run_phases(
    args: argparse.Namespace,
    url: str,
    api_port: int,
    bare_port: int,
    board: str,
    codes: list[str],
    ccg_tokens: dict[str, str],
    document_size: int,
) -> None:
    dsn = psycopg2_dsn(url)
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(RAW_TABLE)
        # The raw rows carry a payload the size of the ledger's average event.
        cur.execute("SELECT avg(length(state))::int FROM qpledger_events")
        size = cur.fetchone()[0] or 200
    conn.close()
    payload = json.dumps({"pad": "x" * max(0, int(size) - 12)}).encode()
    writers = list(ccg_tokens)

    def write(i: int, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        ccg = writers[i % len(writers)]
        body = {
            "measure": "avoidable-emergency-admissions",
            "criterion": "admissions-rate",
            "period": "2013-14-Q1",
            "value": 1000 + n,
            "reason": "bench",
        }
        headers = {
            "Authorization": f"Bearer {ccg_tokens[ccg]}",
            "Content-Type": "application/json",
        }
        return (
            "POST",
            f"/ccgs/{ccg}/schemes/{SCHEME}/measure-values",
            json.dumps(body).encode(),
            headers,
        )

    def read(i: int, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        ccg = codes[(i * 7919 + n) % len(codes)]
        headers = {"Authorization": f"Bearer {board}"}
        return "GET", f"/ccgs/{ccg}/schemes/{SCHEME}/decision", None, headers

    def read_pinned(i: int, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        ccg = codes[(i * 7919 + n) % len(codes)]
        headers = {"Authorization": f"Bearer {board}"}
        path = f"/ccgs/{ccg}/schemes/{SCHEME}/decision?position={args.position}"
        return "GET", path, None, headers

    kinds: dict[str, tuple[Client, str]] = {
        "raw psycopg2 INSERT+COMMIT": (raw_client(dsn, payload, args.clients), "commits"),
        "API POST measure-values": (http_client(api_port, write, 201), "req"),
        "API GET decision": (http_client(api_port, read, 200), "req"),
        "API GET decision ?position=": (http_client(api_port, read_pinned, 200), "req"),
        "bare Flask GET (jsonify)": (http_client(bare_port, read, 200), "req"),
    }
    tallies = {name: Tally() for name in kinds}
    for client, _ in kinds.values():  # warm up every worker, connection and cache
        run_clients(args.clients, args.warm_up, client, None)
    for _ in range(args.rounds):
        for name, (client, _) in kinds.items():
            run_clients(args.clients, args.seconds / args.rounds, client, tallies[name])

    print(
        f"{args.clients} clients; {args.seconds:g} s per kind in {args.rounds} interleaved "
        f"rounds after {args.warm_up:g} s warm-up each; "
        f"serve --workers {args.workers} --threads {args.threads}; "
        f"writes to {len(writers)} CCGs; reads over {len(codes)} CCGs; "
        f"decision document {document_size} B; raw payload {len(payload)} B"
    )
    for name, (_, unit) in kinds.items():
        print(tallies[name].line(name, unit))
    raw, write_t = tallies["raw psycopg2 INSERT+COMMIT"], tallies["API POST measure-values"]
    read_t, bare_t = tallies["API GET decision"], tallies["bare Flask GET (jsonify)"]
    print(f"ratio writes: API POST / raw commits   {write_t.rate / raw.rate:7.3f}")
    print(
        f"ratio writes: API POST / bare GET      {write_t.rate / bare_t.rate:7.3f}  "
        f"(goal >= 0.25 of a bare Flask POST, p99 < 100 ms; p99 here "
        f"{percentile(write_t.latencies, 99) * 1000:.0f} ms)"
    )
    pinned = tallies["API GET decision ?position="]
    print(f"ratio reads:  API GET decision / bare  {read_t.rate / bare_t.rate:7.3f}  (goal >= 0.4)")
    print(f"ratio reads:  GET at a position / bare {pinned.rate / bare_t.rate:7.3f}  (goal >= 0.6)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per kind, all rounds")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--warm-up",
        type=float,
        default=WARM_UP_SECONDS,
        help="seconds per kind before measuring (long enough to read every CCG once per "
        "worker gives the steady state of kept decisions)",
    )
    parser.add_argument("--ccgs", type=int, default=4, help="CCGs written to")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--url", default=server_url(), help="any database on the server")
    parser.add_argument("--logs", default="/tmp/qp-bench-api", help="server logs go here")
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
