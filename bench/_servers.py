"""The servers the HTTP benchmarks run: ``qp-ledger serve``, projectors, the bare Flask baseline.

Each runs in its own process group, started and stopped by id when its
``with`` block ends, so a benchmark that fails half-way leaves nothing
running. The bare baseline is ``qp-ledger serve`` itself with only the WSGI
app swapped, so a ratio to it measures the ledger, not gunicorn settings.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DECISION_ROUTE = "/ccgs/<ccg>/schemes/<scheme>/decision"  # the bare servers' decision path


def qp_ledger() -> list[str]:
    """The ``qp-ledger`` console script of this interpreter's environment."""
    script = shutil.which("qp-ledger", path=str(Path(sys.executable).parent))
    return (
        [script] if script else [sys.executable, "-c", "from ledger.cli.main import main; main()"]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def ports(count: int) -> list[int]:
    found: list[int] = []
    while len(found) < count:
        port = free_port()
        if port not in found:
            found.append(port)
    return found


def pool_options(port: int, args: argparse.Namespace) -> list[str]:
    """Where a server listens and how many workers and threads it runs."""
    return ["--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)]


def serve_options(port: int, args: argparse.Namespace) -> list[str]:
    """The options of ``qp-ledger serve`` both servers get."""
    return ["--host", HOST, *pool_options(port, args)]


@contextmanager
def server(command: list[str], url: str, port: int, log: Path) -> Iterator[None]:
    """Run a server in its own process group until the block ends (then stop that group)."""
    env = {**os.environ, "QP_LEDGER_DATABASE_URL": url}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_healthy(port, proc, log)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}); see {log}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"server on port {port} not healthy after {limit} s; see {log}")


@contextmanager
def projectors(url: str, count: int, logs: Path) -> Iterator[None]:
    """``count`` ``qp-ledger project`` processes, each in its own process group."""
    env = {**os.environ, "QP_LEDGER_DATABASE_URL": url}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for k in range(count):
            with (logs / f"project-{k}.log").open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [*qp_ledger(), "project"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def create_token(url: str, role: str, org: str | None = None) -> str:
    command = [*qp_ledger(), "tokens", "create", "--role", role, "--json", "--database-url", url]
    if org:
        command += ["--org", org]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    token: str = json.loads(out)["token"]
    return token


def bare_command(routes: dict[str, Path], port: int, args: argparse.Namespace) -> list[str]:
    """The command line of a bare server answering each path of ``routes`` with that JSON file."""
    command = [sys.executable, __file__]
    for path, document in routes.items():
        command += ["--route", f"{path}={document}"]
    return [*command, *pool_options(port, args)]


def bare_server(routes: dict[str, Any], args: argparse.Namespace) -> None:
    """``qp-ledger serve`` exactly as for the API, serving a bare Flask app instead.

    The app answers each path of ``routes`` with its document via ``jsonify``
    (and /health). Only the WSGI app gunicorn loads is swapped, so the
    gunicorn settings (bind, workers, threads, worker class, access log,
    timeouts) are the serve command's own.
    """
    from flask import Flask, jsonify

    from ledger.cli import admin as cli_admin

    def answer(document: Any) -> Any:
        return lambda **_: jsonify(document)  # the path's variables are not needed

    def bare_app() -> Flask:
        app = Flask("bare")
        for path, document in {**routes, "/health": {"status": "ok"}}.items():
            app.add_url_rule(path, path, answer(document))
        return app

    make = cli_admin.gunicorn_application

    def bare_application(options: dict[str, Any], config: dict[str, Any]) -> Any:
        application = make(options, config)
        application.load = bare_app  # the instance's loader: the only difference
        return application

    cli_admin.gunicorn_application = bare_application
    # No projector here (SQLite would start one by default): only the API's server projects.
    cli_admin.serve.main([*serve_options(args.port, args), "--no-projector"], standalone_mode=True)


def main() -> None:
    """Run the bare server of ``bare_command``'s command line."""
    parser = argparse.ArgumentParser(description="A bare Flask server answering fixed JSON.")
    parser.add_argument("--route", action="append", default=[], help="PATH=FILE of JSON")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    routes = {}
    for route in args.route:
        path, document = route.split("=", 1)
        routes[path] = json.loads(Path(document).read_text("utf-8"))
    bare_server(routes, args)


if __name__ == "__main__":
    main()
