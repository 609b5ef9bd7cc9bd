"""A token revoked with the CLI is refused by a running server within the documented bound.

Each serve process keeps the tokens it has verified for a few seconds
(``ledger.adapters.tokens.VERIFIED_SECONDS``, docs/security.md), so a
revocation made by another process (``qp-ledger tokens revoke``) reaches it
late, but never later than that. Polled with a generous deadline: the test
checks that the refusal comes, not how fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ledger.adapters.tokens import VERIFIED_SECONDS
from tests.e2e.serving import start_serve

#: Far above the bound: a loaded CI machine may stall the server for a while.
DEADLINE_SECONDS = VERIFIED_SECONDS + 60


def test_a_token_revoked_by_the_cli_is_refused_by_the_serving_workers(tmp_path: Path) -> None:
    server = start_serve(tmp_path, "--no-projector", "--workers", "2", "--threads", "2")
    try:
        created = server.cli("tokens", "create", "--role", "board", "--json")
        assert created.returncode == 0, created.stderr
        token = json.loads(created.stdout)
        for _ in range(8):  # both workers verify it, and keep it
            assert server.request("GET", "/reference/schemes", token=token["token"]).status == 200

        revoked = server.cli("tokens", "revoke", token["id"])
        assert revoked.returncode == 0, revoked.stderr

        deadline = time.monotonic() + DEADLINE_SECONDS
        refused = 0
        while refused < 8 and time.monotonic() < deadline:  # 8 in a row: every worker refuses
            answer = server.request("GET", "/reference/schemes", token=token["token"])
            refused = refused + 1 if answer.status == 401 else 0
            time.sleep(0.1)
        assert refused == 8, f"still accepted {DEADLINE_SECONDS:.0f} s after revoking"
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    finally:
        server.stop()
