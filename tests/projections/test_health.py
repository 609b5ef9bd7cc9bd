"""The projector's health check fails when the projector is dead or far behind.

It used to pass whenever the database answered. docker-compose.yml runs
``project --heartbeat-file F`` and checks it with ``projections status
--heartbeat-file F --max-age … --max-lag-seconds …``; these tests run those
two commands as real processes against a real database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.projections.projkit import Harness, demo

pytestmark = pytest.mark.slow


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.projections", *args],
        env={**os.environ, "QP_LEDGER_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def status(url: str, heartbeat: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(url, "projections", "status", "--heartbeat-file", str(heartbeat), *extra)


def start_projector(url: str, heartbeat: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ledger.projections", "project", "--heartbeat-file", str(heartbeat)],
        env={**os.environ, "QP_LEDGER_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(projector: subprocess.Popen[bytes]) -> None:
    if projector.poll() is None:
        projector.kill()
        projector.wait(10)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_health_check_follows_the_projector_process(harness: Harness, tmp_path: Path) -> None:
    harness.load(demo(3))
    heartbeat = tmp_path / "projector.alive"
    assert status(harness.url, heartbeat).returncode == 1  # never started: unhealthy

    projector = start_projector(harness.url, heartbeat)
    try:
        wait_for(heartbeat.exists, 60, "the first heartbeat")
        wait_for(
            lambda: status(harness.url, heartbeat, "--max-lag-seconds", "0").returncode == 0,
            120,
            "the projector to catch up",
        )
        healthy = status(harness.url, heartbeat, "--max-lag-seconds", "600")
        assert healthy.returncode == 0, healthy.stderr
        assert json.loads(healthy.stdout)["head"] > 0

        projector.send_signal(signal.SIGKILL)  # dies without a word, leaving its file
        projector.wait(10)
        assert heartbeat.exists()
        time.sleep(1.5)
        dead = status(harness.url, heartbeat, "--max-age", "1")
        assert dead.returncode == 1
        assert "last heartbeat was" in dead.stderr
    finally:
        stop(projector)


def test_a_cleanly_stopped_projector_is_reported_as_not_running(
    harness: Harness, tmp_path: Path
) -> None:
    harness.load(demo(1))
    heartbeat = tmp_path / "projector.alive"
    projector = start_projector(harness.url, heartbeat)
    try:
        wait_for(heartbeat.exists, 60, "the first heartbeat")
        projector.send_signal(signal.SIGTERM)
        assert projector.wait(30) == 0
        stopped = status(harness.url, heartbeat)
        assert stopped.returncode == 1
        assert "not running" in stopped.stderr
    finally:
        stop(projector)


def test_a_read_model_far_behind_fails_the_check_even_with_a_fresh_heartbeat(
    harness: Harness, tmp_path: Path
) -> None:
    commands = demo(1)
    harness.load(commands)
    harness.project()
    ccg = commands[0]["ccg"]
    late = {"type": "population_recorded", "ccg": ccg, "scheme": "qp-2013-14", "source": "ONS"}
    harness.load([{**late, "population": 100_000 + i} for i in range(3)])  # nobody projects them
    time.sleep(1.2)
    heartbeat = tmp_path / "projector.alive"
    heartbeat.write_text(json.dumps({"pid": 1, "at": time.time(), "positions": {}}))
    behind = status(harness.url, heartbeat, "--max-lag-seconds", "1")
    assert behind.returncode == 1
    assert "behind the log" in behind.stderr
    assert status(harness.url, heartbeat, "--max-lag-seconds", "3600").returncode == 0
