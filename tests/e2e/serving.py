"""Start ``qp-ledger serve`` the way a user does: a real process, real HTTP.

A stubbed server once hid a README whose server could not take a write, so
the end-to-end tests run the console script itself, in a directory of its
own, on a free port, and talk to it with an HTTP client.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The installed console script, beside this interpreter (the README's `.venv/bin/qp-ledger`).
QP_LEDGER = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running ``qp-ledger serve`` and the directory it was started in."""

    cwd: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        data = None if body is None else json.dumps(body).encode()
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for name, value in all_headers.items():
            req.add_header(name, value)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.read(), dict(r.headers), time.perf_counter() - started)
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read(), dict(e.headers), time.perf_counter() - started)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``qp-ledger ARGS`` in the server's directory, with its environment."""
        return subprocess.run(
            [QP_LEDGER, *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def token(self, role: str, org: str | None = None) -> str:
        args = ["tokens", "create", "--role", role, "--label", f"e2e {role}"]
        if org:
            args += ["--org", org]
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 60) -> float:
        """Send ``sig`` as a terminal would (to the process group); seconds until it exited."""
        started = time.perf_counter()
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
                message = f"serve did not stop within {timeout}s of {sig.name}"
                raise AssertionError(message) from None
        return time.perf_counter() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any QP_LEDGER_ setting (a new user's shell), plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    environment.update(env or {})
    return environment


def start_serve(
    cwd: Path, *args: str, env: dict[str, str] | None = None, wait: float = 180
) -> Server:
    """``qp-ledger serve ARGS --port P`` in ``cwd`` (its own process group), once /health answers.

    The database is whatever the environment says; with none, the README's
    default: ``qp-ledger.db`` in ``cwd``.
    """
    port = free_port()
    environment = clean_env(env)
    log = cwd / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [QP_LEDGER, "serve", *args, "--port", str(port)],
            cwd=cwd,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's job
        )
    server = Server(cwd, port, process, log, environment)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{server.output()}")
        try:
            if server.request("GET", "/health", timeout=2).status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.kill()
    raise AssertionError(f"serve did not answer /health within {wait}s:\n{server.output()}")
