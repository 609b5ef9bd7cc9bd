"""Shared by the evidence-bundle tests: a real issued decision, exported from a real database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ledger.adapters.snapshot_auth import snapshot_key_file
from ledger.demo.year import demo_commands
from ledger.integrity.signing import load_signer
from ledger.service.application import QPLedger
from ledger.service.bundles import export_bundle
from tests.ledgerkit import population

SCHEME = "qp-2013-14"
ORIGIN = "qp-ledger.test/bundle"
NOWHERE = "postgresql+psycopg2://nobody@127.0.0.1:1/none"
SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"


def issued_records(url: str, ccgs: int = 2, later: bool = True) -> list[tuple[str, str]]:
    """A demo year for ``ccgs`` CCGs, each one's decision issued; (ccg, issue id) of each.

    With ``later``, each record then gets one more event, so a bundle carries
    the next event of the record (its completeness proof).
    """
    ledger = QPLedger(url)
    try:
        commands = demo_commands(limit=ccgs)
        report = ledger.import_lines(json.dumps(c) for c in commands)
        assert report.rejected == 0, report.errors
        codes = list(dict.fromkeys(c["ccg"] for c in commands))
        out = []
        for ccg in codes:
            issued = ledger.determinations.issue(ccg, SCHEME, actor="board#test", reason="year end")
            out.append((ccg, issued["issue_id"]))
        if later:
            for ccg in codes:
                ledger.execute(population(ccg, 123_456), actor="board#test")
        return out
    finally:
        ledger.close()


def export(url: str, key: Path, ccg: str, issue_id: str) -> Any:
    ledger = QPLedger(url)
    try:
        return export_bundle(ledger, load_signer(key, ORIGIN)[0], ccg, SCHEME, issue_id)
    finally:
        ledger.close()


def verifier_key(key: Path) -> str:
    return str(load_signer(key, ORIGIN)[0].verifier)


def qp(*args: str, url: str = NOWHERE, key: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script; the database URL points nowhere unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    env["QP_LEDGER_DATABASE_URL"] = url
    env["QP_LEDGER_LOG_ORIGIN"] = ORIGIN
    if key is not None:
        env["QP_LEDGER_SIGNING_KEY_FILE"] = str(key)
    if url != NOWHERE:
        # The snapshot key this test process writes with (it also makes the idempotency
        # key codes), not one beside another signing key: one deployment, one key.
        env["QP_LEDGER_SNAPSHOT_KEY_FILE"] = str(snapshot_key_file(url).resolve())
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, timeout=300)
