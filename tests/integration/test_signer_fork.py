"""The signer never signs a fork (issue 11 item 2), on SQLite and PostgreSQL.

An administrator rewrites an event and rebuilds every hash and node row
(``integrity_attack.rebuild_log``), so the database agrees with itself again.
Before, the ledger then signed a second root for a tree size it had already
signed. Now it keeps the last signed head beside the key and refuses: through
the service, through ``qp-ledger checkpoint`` (exit 1, a message, no
traceback), and the state file is left as it was.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Table

from ledger.integrity.checkpoint import Signer, verify_checkpoint
from ledger.integrity.documents import LogDocuments
from ledger.integrity.signed_head import SigningRefused, state_file
from ledger.integrity.signing import load_signer
from ledger.service.application import QPLedger
from tests.integrity_attack import rebuild_log
from tests.ledgerkit import population, rewrite_event, small_log

ORIGIN = "qp-ledger.test/fork"


@pytest.fixture
def ledger(database_url: str) -> Iterator[QPLedger]:
    app = small_log(database_url)
    yield app
    app.close()


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "signing.key"


def signer_for(key: Path) -> Signer:
    key.parent.mkdir(exist_ok=True)
    return load_signer(key, ORIGIN)[0]


def cli(database_url: str, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QP_LEDGER_DATABASE_URL": database_url, "QP_LEDGER_LOG_ORIGIN": ORIGIN}
    env["QP_LEDGER_SIGNING_KEY_FILE"] = str(key)
    return subprocess.run(
        [str(Path(sys.executable).with_name("qp-ledger")), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_signing_keeps_the_last_head_beside_the_key_and_extends_it(
    ledger: QPLedger, key: Path
) -> None:
    signer, docs = signer_for(key), LogDocuments(ledger.store)
    first = docs.checkpoint(signer)
    state = state_file(key)
    assert state.parent == key.parent
    assert state.read_text() == first["checkpoint"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert docs.checkpoint(signer)["checkpoint"]  # the same head again: fine
    ledger.execute(population("00F", 5))
    second = docs.checkpoint(signer)
    assert second["tree_size"] == first["tree_size"] + 2  # 00F opened, then its population
    assert verify_checkpoint(state.read_text(), signer.verifier).size == second["tree_size"]
    assert docs.signer_health(key)["status"] == "ok"


def test_a_rewritten_log_is_not_signed(ledger: QPLedger, key: Path, database_url: str) -> None:
    signer, docs = signer_for(key), LogDocuments(ledger.store)
    signed = docs.checkpoint(signer)
    before = state_file(key).read_bytes()
    assert rewrite_event(ledger, 3) == ledger.max_position()
    with pytest.raises(SigningRefused, match="another root than the last signed checkpoint"):
        docs.checkpoint(signer)
    assert state_file(key).read_bytes() == before
    health = docs.signer_health(key)
    assert health["status"] == "refusing"
    assert "the log was rewritten" in health["detail"]
    assert health["last_signed"]["tree_size"] == signed["tree_size"]

    result = cli(database_url, key, "checkpoint")
    assert result.returncode == 1, result.stderr
    assert "\nerror: REFUSED to sign a checkpoint" in result.stderr  # after the log's line
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert state_file(key).read_bytes() == before


def test_a_rewrite_followed_by_new_events_is_not_signed(ledger: QPLedger, key: Path) -> None:
    signer, docs = signer_for(key), LogDocuments(ledger.store)
    docs.checkpoint(signer)
    assert rewrite_event(ledger, 2) == ledger.max_position()
    ledger.execute(population("00F", 5))  # the log grows past the signed size
    with pytest.raises(SigningRefused, match="is not an extension of the last signed"):
        docs.checkpoint(signer)


def test_a_shorter_log_is_not_signed(ledger: QPLedger, key: Path) -> None:
    signer, docs = signer_for(key), LogDocuments(ledger.store)
    docs.checkpoint(signer)
    store = ledger.store
    events: Table = store.events_record_cls.__table__
    with store.datastore.engine.begin() as conn:
        conn.execute(store.index.delete().where(store.index.c.position == ledger.max_position()))
        conn.execute(events.delete().where(events.c.id == ledger.max_position()))
        for table in store.integrity.tables:
            conn.execute(table.delete())
    rebuild_log(store)
    with pytest.raises(SigningRefused, match="smaller than the last signed checkpoint"):
        docs.checkpoint(signer)


def test_a_damaged_state_file_stops_signing(ledger: QPLedger, key: Path) -> None:
    signer, docs = signer_for(key), LogDocuments(ledger.store)
    size = docs.checkpoint(signer)["tree_size"]
    state = state_file(key)
    state.write_text(state.read_text().replace(f"\n{size}\n", f"\n{size - 1}\n"))
    with pytest.raises(SigningRefused, match="should hold the last checkpoint this key signed"):
        docs.checkpoint(signer)
    state.write_text("not a note")
    with pytest.raises(SigningRefused, match="should hold the last checkpoint"):
        docs.checkpoint(signer)


def test_a_state_file_others_can_read_is_used_with_a_warning(
    ledger: QPLedger, key: Path, caplog: pytest.LogCaptureFixture
) -> None:
    signer, docs = signer_for(key), LogDocuments(ledger.store)
    docs.checkpoint(signer)
    state_file(key).chmod(0o664)
    with caplog.at_level("WARNING", logger="ledger.integrity.signed_head"):
        docs.checkpoint(signer)
    assert f"{state_file(key)} has mode 0664; run: chmod 600" in caplog.text


def test_concurrent_signers_on_a_growing_log_never_refuse(
    ledger: QPLedger, key: Path, database_url: str
) -> None:
    """Processes signing at once while events arrive: one lock, no false fork, no lost head."""
    signer_for(key)  # the key exists before the processes race to use it
    env = {**os.environ, "QP_LEDGER_DATABASE_URL": database_url, "QP_LEDGER_LOG_ORIGIN": ORIGIN}
    env["QP_LEDGER_SIGNING_KEY_FILE"] = str(key)
    script = str(Path(sys.executable).with_name("qp-ledger"))
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            ledger.execute(population("00F", 1000 + n))
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        signers = [
            subprocess.Popen(
                [script, "checkpoint"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
            for _ in range(5)
        ]
        results = [(p.wait(timeout=120), *p.communicate()) for p in signers]
    finally:
        stop.set()
        writer.join()
    assert [code for code, _, _ in results] == [0] * 5, [err for _, _, err in results]
    sizes = [int(out.decode().split("\n")[1]) for _, out, _ in results]
    kept = verify_checkpoint(state_file(key).read_text(), signer_for(key).verifier)
    assert kept.size == max(sizes)
