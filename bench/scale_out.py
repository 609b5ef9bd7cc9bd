"""Scale-out on one PostgreSQL: 1, 2 and 4 ``serve`` processes, 2 projectors (issue 12, item 5).

On a scratch PostgreSQL database (``qp_bench_<pid>``, created and dropped) it
loads the demo year with ``qp-ledger demo``, starts 4 real ``qp-ledger serve
--no-projector`` processes (each on its own port) and 2 ``qp-ledger project``
processes, waits for the read models to catch up, creates tokens with
``qp-ledger tokens create``, then drives a mixed load from ``--clients`` (16)
keep-alive client threads: a quarter ``POST …/measure-values`` (each writer
thread to its own CCG), half ``GET …/decision`` (now, round-robin over the
211 CCGs), a quarter report pages (``/reports/summaries`` by region, or the
decisions page of 50). For 1, 2 and 4 processes the same threads are spread
over the first 1, 2 or 4 ports; the other servers sit idle, so the settings
can be interleaved in rounds and drift in the machine's load falls on all of
them alike.

Baseline, same run: 1, 2 and 4 **bare Flask** servers (``_servers.py``'s
bare app — the same ``serve`` command and gunicorn settings, only the WSGI app
swapped, answering the decision path with a stored decision document) under
the same number of threads spread the same way, GET only. Every figure is
printed with its ratio to the 1-process figure and to the bare servers; the
CPU the whole machine spent in each phase comes from ``/proc/stat``. Asserts
nothing; stops by itself (server process groups stopped by id, the scratch
database dropped).

    python bench/scale_out.py [--seconds 8] [--rounds 2] [--clients 16] [--workers 1] [--url URL]
    python bench/scale_out.py --mix write --ccgs 16   # writes only, one CCG per writer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from _common import machine, measure_command, percentile, scratch_postgres, server_url
from _servers import (
    DECISION_ROUTE,
    bare_command,
    create_token,
    ports,
    projectors,
    qp_ledger,
    serve_options,
    server,
)
from api_throughput import Client, Tally, demo_codes, fetch, http_client, run_clients
from reports_throughput import DECISIONS, SUMMARIES, wait_caught_up

from api.config import DEFAULT_THREADS

SCHEME = "qp-2013-14"
COUNTS = (1, 2, 4)
#: Client thread i does MIX[i % 4]: a quarter writes, half decisions, a quarter reports.
MIX = "write,decision,decision,report"
OK = {"write": 201, "decision": 200, "report": 200}
Request = tuple[str, str, bytes | None, dict[str, str]]


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from the first line of /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_cpu(database: str) -> float:
    """CPU seconds used so far by this run's servers: the processes this script started
    (servers, projectors, their workers) and the PostgreSQL backends of its database.

    The load generator (this process) is left out, so the figure is the cost of
    serving, whatever else the shared machine is doing.
    """
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    backends: set[int] = set()
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
        if cmdline.startswith(b"postgres:") and f" {database} ".encode() in cmdline:
            backends.add(pid)
    ours, todo = set(), [os.getpid()]
    while todo:
        parent = todo.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        ours.update(children)
        todo += children
    return sum(used[pid] for pid in ours | backends)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class Load:
    """The requests of the mixed load and who sends them where."""

    def __init__(self, mix: str, board: str, codes: list[str], ccg_tokens: dict[str, str]) -> None:
        self.kinds = mix.split(",")
        self.board = board
        self.codes = codes
        self.writers = list(ccg_tokens)
        self.ccg_tokens = ccg_tokens

    def write(self, i: int, n: int) -> Request:
        ccg = self.writers[(i // len(self.kinds)) % len(self.writers)]
        command = measure_command(ccg, n, SCHEME)
        body = {k: v for k, v in command.items() if k not in ("type", "ccg", "scheme")}
        headers = {
            "Authorization": f"Bearer {self.ccg_tokens[ccg]}",
            "Content-Type": "application/json",
        }
        path = f"/ccgs/{ccg}/schemes/{SCHEME}/measure-values"
        return "POST", path, json.dumps(body).encode(), headers

    def decision(self, i: int, n: int) -> Request:
        ccg = self.codes[(i * 7919 + n) % len(self.codes)]
        path = f"/ccgs/{ccg}/schemes/{SCHEME}/decision"
        return "GET", path, None, {"Authorization": f"Bearer {self.board}"}

    def report(self, i: int, n: int) -> Request:
        return "GET", (SUMMARIES, DECISIONS)[n % 2], None, {"Authorization": f"Bearer {self.board}"}

    def api_client(self, targets: list[int], tallies: dict[str, Tally]) -> Client:
        """Client i sends kinds[i % k] to port (i // k) % n; successes land in its kind's tally."""

        def loop(i: int, deadline: float) -> tuple[list[float], dict[str, int]]:
            kind = self.kinds[i % len(self.kinds)]
            port = targets[(i // len(self.kinds)) % len(targets)]
            latencies, errors = http_client(port, getattr(self, kind), OK[kind])(i, deadline)
            tallies[kind].add(latencies, errors)
            return latencies, errors

        return loop

    def bare_client(self, targets: list[int]) -> Client:
        def loop(i: int, deadline: float) -> tuple[list[float], dict[str, int]]:
            port = targets[(i // len(self.kinds)) % len(targets)]
            return http_client(port, self.decision, 200)(i, deadline)

        return loop


class Phase:
    """One setting (API or bare, n processes): the whole load's tally, per kind, CPU used."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.total = Tally()
        self.kinds = {kind: Tally() for kind in OK}
        self.busy = 0
        self.ticks = 0
        self.served = 0.0

    def run(self, clients: int, seconds: float, client: Client) -> None:
        before_seconds = self.total.seconds
        busy, total = cpu_ticks()
        served = run_cpu(self.database)
        run_clients(clients, seconds, client, self.total)
        self.served += run_cpu(self.database) - served
        busy2, total2 = cpu_ticks()
        self.busy += busy2 - busy
        self.ticks += total2 - total
        for tally in self.kinds.values():
            tally.seconds += self.total.seconds - before_seconds

    @property
    def cpu(self) -> float:
        """Share of the machine's CPU time that was busy (1.0 = every core, all the time)."""
        return self.busy / self.ticks if self.ticks else 0.0

    @property
    def cpu_ms(self) -> float:
        """The servers' CPU (servers, projectors, PostgreSQL) per successful request, ms."""
        n = len(self.total.latencies)
        return self.served / n * 1000 if n else float("nan")

    @property
    def cores(self) -> float:
        """Cores the servers kept busy on average (CPU seconds per second)."""
        return self.served / self.total.seconds if self.total.seconds else 0.0


def measure(args: argparse.Namespace) -> None:
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    print(f"machine: {machine()}; PostgreSQL on the same machine, shared with other work")
    print(f"uptime before: {uptime()}")
    if cores < max(COUNTS):
        print(
            f"note: {cores} cores: {max(COUNTS)} API processes (plus PostgreSQL, 2 projectors "
            f"and the {args.clients} client threads) cannot run on more cores than there are; "
            "the 4-process figure measures contention, not scale-out"
        )
    with scratch_postgres(args.url) as url:
        started = time.perf_counter()
        demo = [*qp_ledger(), "demo", "--database-url", url]
        done = subprocess.run(demo, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"qp-ledger demo failed: {done.stderr[-2000:]}")
        print(f"qp-ledger demo loaded in {time.perf_counter() - started:.1f} s")
        api_ports, bare_ports = ports(max(COUNTS)), ports(max(COUNTS))
        with ExitStack() as stack:
            started = time.perf_counter()
            for k, port in enumerate(api_ports):
                command = [*qp_ledger(), "serve", *serve_options(port, args), "--no-projector"]
                stack.enter_context(server(command, url, port, logs / f"api-{k}.log"))
            print(
                f"{len(api_ports)} x qp-ledger serve --no-projector --workers {args.workers} "
                f"--threads {args.threads} healthy in {time.perf_counter() - started:.1f} s"
            )
            stack.enter_context(projectors(url, args.projectors, logs))
            board = create_token(url, "board")
            status = wait_caught_up(api_ports[0], board, args.catch_up_timeout)
            print(
                f"{args.projectors} x qp-ledger project: read models caught up "
                f"{time.perf_counter() - started:.1f} s after the servers started "
                f"(head {status['head']})"
            )
            codes = demo_codes(api_ports[0], board)
            ccg_tokens = {code: create_token(url, "ccg", code) for code in codes[: args.ccgs]}
            document = fetch(api_ports[0], f"/ccgs/{codes[0]}/schemes/{SCHEME}/decision", board)
            (logs / "decision.json").write_bytes(document)
            for k, port in enumerate(bare_ports):
                bare = bare_command({DECISION_ROUTE: logs / "decision.json"}, port, args)
                stack.enter_context(server(bare, url, port, logs / f"bare-{k}.log"))
            database = url.rsplit("/", 1)[1]
            load = Load(args.mix, board, codes, ccg_tokens)
            run_phases(args, database, load, api_ports, bare_ports)
    print(f"uptime after: {uptime()}")


def run_phases(
    args: argparse.Namespace,
    database: str,
    load: Load,
    api_ports: list[int],
    bare_ports: list[int],
) -> None:
    phases = {(side, n): Phase(database) for side in ("api", "bare") for n in COUNTS}

    def client(side: str, n: int, phase: Phase | None) -> Client:
        if side == "bare":
            return load.bare_client(bare_ports[:n])
        return load.api_client(api_ports[:n], (phase or Phase(database)).kinds)

    for side, n in phases:  # warm up every worker, connection and cache
        run_clients(args.clients, args.warm_up, client(side, n, None), None)
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for (side, n), phase in phases.items():
            phase.run(args.clients, args.seconds / args.rounds, client(side, n, phase))
    loads.append(os.getloadavg()[0])
    report(args, phases, loads)


def report(
    args: argparse.Namespace, phases: dict[tuple[str, int], Phase], loads: list[float]
) -> None:
    print(
        f"\n{args.clients} client threads ({args.mix} by thread index), "
        f"{args.seconds:g} s per setting in {args.rounds} interleaved rounds after "
        f"{args.warm_up:g} s warm-up each; serve --workers {args.workers} --threads "
        f"{args.threads} per process; {args.projectors} projectors; writes to {args.ccgs} "
        f"CCGs; load average (1 min) at each round: {', '.join(f'{x:.2f}' for x in loads)}"
    )
    for (side, n), phase in phases.items():
        name = f"{'API load' if side == 'api' else 'bare Flask GET'}, {n} process(es)"
        print(phase.total.line(name, "req") + f"  cpu {phase.cpu:.0%}")
        if side == "api":
            for kind, tally in phase.kinds.items():
                if kind not in args.mix:
                    continue
                print("  " + tally.line(kind, "req"))
    api1, bare1 = phases[("api", 1)].total, phases[("bare", 1)].total
    print(
        "\nprocesses | API req/s | ÷ API 1 proc | ÷ bare same procs | ÷ bare 1 proc | "
        "bare req/s | bare ÷ bare 1 | API p50 / p99 ms | p99 ÷ bare p99 | machine CPU busy"
    )
    for n in COUNTS:
        api, bare = phases[("api", n)].total, phases[("bare", n)].total
        p50, p99 = (percentile(api.latencies, p) * 1000 for p in (50, 99))
        bare_p99 = percentile(bare.latencies, 99) * 1000
        print(
            f"{n:>9} | {api.rate:9.1f} | {api.rate / api1.rate:12.2f} | "
            f"{api.rate / bare.rate:17.3f} | {api.rate / bare1.rate:13.3f} | {bare.rate:10.1f} | "
            f"{bare.rate / bare1.rate:13.2f} | {p50:7.1f} / {p99:6.1f} | "
            f"{p99 / bare_p99:14.1f} | api {phases[('api', n)].cpu:.0%}, "
            f"bare {phases[('bare', n)].cpu:.0%}"
        )
    cores = os.cpu_count() or 1
    print(
        f"\nCPU of the servers (serve, projectors, PostgreSQL backends; not the clients), "
        f"machine of {cores} cores: ms per request (÷ bare, same processes), cores used, "
        "what they would serve on the whole machine (cores ÷ CPU per request)"
    )
    for n in COUNTS:
        api, bare = phases[("api", n)], phases[("bare", n)]
        print(
            f"{n:>9} | API {api.cpu_ms:6.2f} ms/req, {api.cores:4.2f} cores, "
            f"{cores / api.cpu_ms * 1000:6.0f} req/s | bare {bare.cpu_ms:5.2f} ms/req, "
            f"{bare.cores:4.2f} cores, {cores / bare.cpu_ms * 1000:6.0f} req/s | "
            f"API ÷ bare CPU per request {api.cpu_ms / bare.cpu_ms:5.1f}"
        )
    print("\nper kind: req/s (÷ same kind at 1 process), p50 / p99 ms")
    for kind in (k for k in OK if k in args.mix):
        one = phases[("api", 1)].kinds[kind]
        cells = []
        for n in COUNTS:
            t = phases[("api", n)].kinds[kind]
            if not t.latencies:
                cells.append(f"{n}: none")
                continue
            p50, p99 = (percentile(t.latencies, p) * 1000 for p in (50, 99))
            ratio = t.rate / one.rate if one.rate else float("nan")
            cells.append(f"{n}: {t.rate:.1f} ({ratio:.2f}) {p50:.0f} / {p99:.0f}")
        print(f"  {kind:<9} " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per setting, all rounds")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--clients", type=int, default=16, help="client threads (a multiple of 16)")
    parser.add_argument("--mix", default=MIX, help="kinds by client thread index, repeating")
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds per setting")
    parser.add_argument("--ccgs", type=int, default=4, help="CCGs written to (one per writer)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per serve")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--projectors", type=int, default=2)
    parser.add_argument("--url", default=server_url(), help="any database on the server")
    parser.add_argument("--catch-up-timeout", type=float, default=300.0, help="seconds")
    parser.add_argument("--logs", default="/tmp/qp-bench-scale-out", help="server logs go here")
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
