"""kill -9 of ``serve`` on PostgreSQL while its request threads' writes share transactions.

One worker with 8 threads takes 16 clients' keyed writes to 8 CCGs, so its
writes are grouped (ledger/adapters/group_commit.py); the whole process group
is killed with SIGKILL mid-stream and started again. Every write a client
saw acknowledged is in the log, once, at the position it was acknowledged
at; every write left without an answer, retried with its Idempotency-Key
as a client would, ends up stored exactly once too.
"""

from __future__ import annotations

import threading
import time
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.serving import Server, start_serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCHEME = "qp-2013-14"
CCGS = ["06F", "00C", "00D", "00F", "00G", "00H", "00J", "00K"]
CLIENTS = 16


def body(value: int) -> dict[str, Any]:
    return {"measure": "pyll", "criterion": "pyll-rate", "period": "2013-14", "value": value}


class Client:
    """One client's keyed writes: what it was told, and what it never heard back about."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ccg = CCGS[n % len(CCGS)]
        self.acked: dict[str, int] = {}  # key -> position
        self.unanswered: list[tuple[str, int]] = []  # (key, value)
        self.stop = threading.Event()

    def run(self, server: Server, token: str) -> None:
        i = 0
        while not self.stop.is_set():
            key, value = f"c{self.n}-{i}", 100_000 * (self.n + 1) + i
            try:
                r = server.request(
                    "POST",
                    f"/ccgs/{self.ccg}/schemes/{SCHEME}/measure-values",
                    token=token,
                    body=body(value),
                    headers={"Idempotency-Key": key},
                    timeout=10,
                )
                position = r.json()["position"] if r.status == 201 else None
            except (OSError, HTTPException, ValueError):
                # Killed mid-answer too (a cut-off body is IncompleteRead, not an OSError):
                # the write may or may not be stored; the client will retry it with its key.
                self.unanswered.append((key, value))
                return  # the server is gone
            if position is not None:
                self.acked[key] = position
            else:
                self.unanswered.append((key, value))
            i += 1


def test_serve_killed_mid_grouped_writes_loses_and_repeats_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {"QP_LEDGER_DATABASE_URL": postgres_url}
    server = start_serve(tmp_path, "--workers", "1", "--threads", "8", env=env)
    try:
        tokens = {c: server.token("ccg", org=c) for c in CCGS}
        clients = [Client(n) for n in range(CLIENTS)]
        threads = [threading.Thread(target=c.run, args=(server, tokens[c.ccg])) for c in clients]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while sum(len(c.acked) for c in clients) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # SIGKILL to serve's process group, mid-stream
        for c in clients:
            c.stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        server.kill()
    acked = {k: p for c in clients for k, p in c.acked.items()}
    assert len(acked) >= 150, "the writes did not get going"

    again = start_serve(tmp_path, "--workers", "1", "--threads", "8", env=env)
    try:
        retried = {}
        for c in clients:
            for key, value in c.unanswered:
                r = again.request(
                    "POST",
                    f"/ccgs/{c.ccg}/schemes/{SCHEME}/measure-values",
                    token=tokens[c.ccg],
                    body=body(value),
                    headers={"Idempotency-Key": key},
                )
                assert r.status == 201, r.body
                retried[key] = r.json()["position"]
        board = again.token("board")
        stored: dict[int, list[int]] = {}  # value -> positions
        for ccg in CCGS:
            offset = 0
            while True:
                page = again.request(
                    "GET",
                    f"/ccgs/{ccg}/schemes/{SCHEME}/history?limit=500&offset={offset}",
                    token=board,
                ).json()["events"]
                for e in page:
                    if e["type"] == "measure_submitted":
                        stored.setdefault(int(e["fields"]["value"]), []).append(e["position"])
                if len(page) < 500:
                    break
                offset += 500
    finally:
        again.stop()
    sent = {
        key: value
        for c in clients
        for key, value in [
            *((k, 100_000 * (c.n + 1) + int(k.split("-")[1])) for k in c.acked),
            *c.unanswered,
        ]
    }
    # Every write sent is stored exactly once, and nothing else is.
    assert sorted(stored) == sorted(sent.values())
    assert all(len(p) == 1 for p in stored.values()), "a write was stored twice"
    for key, value in sent.items():
        position = stored[value][0]
        assert acked.get(key, position) == position, "acknowledged at another position"
        assert retried.get(key, position) == position, "a retry was not given the first receipt"
