"""Tampering made directly in the database with SQL, caught by the real ``qp-ledger verify``.

On SQLite and PostgreSQL: a log is written through the application, then
changed the way a database administrator could — an event's payload edited,
an event deleted, one inserted, two swapped — and the console script is run
as an auditor would (``qp-ledger verify --database-url …``). It must exit
non-zero and name the first position that does not match; on an untouched
database it exits 0. A checkpoint saved before a *consistent* rewrite (the
tail truncated and different events appended through the ledger, so every
stored hash agrees with the events) is what catches the rewrite: the
consistency check fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ledger.domain.record import stream_id
from ledger.service.application import QPLedger
from tests.ledgerkit import SCHEME, population

SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"
CCGS = ("06F", "00C", "00D")
EVENTS = "qpledger_events"
INDEX = "qpledger_event_index"


@pytest.fixture
def log_url(database_url: str) -> Iterator[str]:
    """A log of 21 events in 3 streams (each record's opening, then 6 populations)."""
    ledger = QPLedger(database_url)
    try:
        for n in range(6):
            for ccg in CCGS:
                ledger.execute(population(ccg, 100_000 + n), actor="board#tamper")
        assert ledger.max_position() == 21
    finally:
        ledger.close()
    return database_url


def qp(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, with its own key file and nothing from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    env["QP_LEDGER_SIGNING_KEY_FILE"] = str(tmp_path / "signing.key")
    return subprocess.run(
        [SCRIPT, *args, "--database-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def sql(url: str, *statements: str) -> None:
    """Run statements in one transaction, as an administrator with a SQL prompt would."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                assert conn.execute(text(statement)).rowcount != 0, statement
    finally:
        engine.dispose()


def postgres(url: str) -> bool:
    return url.startswith("postgresql")


def edit_payload(url: str, position: int) -> None:
    if postgres(url):
        edited = "convert_to(replace(convert_from(state, 'UTF8'), '10000', '90000'), 'UTF8')"
    else:
        edited = "CAST(replace(CAST(state AS TEXT), '10000', '90000') AS BLOB)"
    sql(url, f"UPDATE {EVENTS} SET state = {edited} WHERE id = {position}")


def delete_event(url: str, position: int) -> None:
    sql(
        url,
        f"DELETE FROM {EVENTS} WHERE id = {position}",
        f"DELETE FROM {INDEX} WHERE position = {position}",
    )


def insert_event(url: str, position: int) -> None:
    """One more population for 06F (its record's next version) at the end of the log."""
    stream = str(stream_id("06F", SCHEME))
    value = f"'{stream}'" if postgres(url) else f"X'{stream.replace('-', '')}'"
    payload = '\'{"population": 1, "source": "forged"}\''
    state = f"convert_to({payload}, 'UTF8')" if postgres(url) else f"CAST({payload} AS BLOB)"
    sql(
        url,
        f"INSERT INTO {EVENTS} (id, originator_id, originator_version, topic, state) "
        f"VALUES ({position}, {value}, 8, "
        f"'ledger.domain:CCGPremiumRecord.PopulationRecorded', {state})",
        f"INSERT INTO {INDEX} (position, originator_id, originator_version, recorded_us) "
        f"SELECT {position}, '{stream}', 8, max(recorded_us) + 1 FROM {INDEX}",
    )


def swap_events(url: str, first: int, second: int) -> None:
    """Exchange two events' places in the log (their recorded times stay put)."""
    sql(
        url,
        f"UPDATE {EVENTS} SET id = -1 WHERE id = {first}",
        f"UPDATE {EVENTS} SET id = {first} WHERE id = {second}",
        f"UPDATE {EVENTS} SET id = {second} WHERE id = -1",
    )


def assert_names(result: subprocess.CompletedProcess[str], position: int) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the first position that does not match is {position}" in result.stderr
    assert f"position {position}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_untouched_log_verifies(log_url: str, tmp_path: Path) -> None:
    result = qp(log_url, tmp_path, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "read 21 events (positions 1..21, 3 streams)" in result.stdout
    assert "OK: every event, hash chain and Merkle node matches" in result.stdout
    document = json.loads(qp(log_url, tmp_path, "verify", "--json").stdout)
    assert document["ok"] and document["events"] == 21 and document["problems"] == []
    assert document["first_bad_position"] is None and document["stored_root_agrees"]


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        pytest.param(lambda url: edit_payload(url, 8), 8, id="edited-payload"),
        pytest.param(lambda url: delete_event(url, 11), 11, id="deleted-event"),
        pytest.param(lambda url: delete_event(url, 21), 21, id="deleted-last-event"),
        pytest.param(lambda url: insert_event(url, 22), 22, id="inserted-event"),
        pytest.param(lambda url: swap_events(url, 9, 14), 9, id="swapped-events"),
    ],
)
def test_sql_tampering_is_named_by_verify(
    log_url: str, tmp_path: Path, tamper: Any, named: int
) -> None:
    tamper(log_url)
    result = qp(log_url, tmp_path, "verify")
    assert_names(result, named)
    document = json.loads(qp(log_url, tmp_path, "verify", "--json").stdout)
    assert not document["ok"] and document["first_bad_position"] == named


def test_a_checkpoint_catches_a_consistent_rewrite(log_url: str, tmp_path: Path) -> None:
    """Truncate the tail and append other events through the ledger: every hash agrees
    with the events again, so only a checkpoint saved before can show the rewrite."""
    checkpoint = tmp_path / "checkpoint.txt"
    saved = qp(log_url, tmp_path, "checkpoint", "--out", str(checkpoint))
    assert saved.returncode == 0, saved.stderr
    assert "created a new checkpoint signing key" in saved.stderr
    assert qp(log_url, tmp_path, "verify", "--checkpoint", str(checkpoint)).returncode == 0
    # Keep 15 events (leaves 0..14): drop the rest, their hashes, key and index codes and
    # the nodes over them.
    sql(
        log_url,
        f"DELETE FROM {EVENTS} WHERE id > 15",
        f"DELETE FROM {INDEX} WHERE position > 15",
        "DELETE FROM qpledger_event_hashes WHERE position > 15",
        "DELETE FROM qpledger_merkle_nodes WHERE ((idx + 1) << level) > 15",
        "DELETE FROM qpledger_key_codes WHERE position > 15",
        "DELETE FROM qpledger_index_codes WHERE position > 15",
    )
    ledger = QPLedger(log_url)  # a fresh process's view: nothing cached
    try:
        for n in range(4):
            for ccg in CCGS:
                ledger.execute(population(ccg, 500_000 + n), actor="board#rewrite")
    finally:
        ledger.close()
    plain = qp(log_url, tmp_path, "verify")
    assert plain.returncode == 0, plain.stdout + plain.stderr  # internally consistent...
    result = qp(log_url, tmp_path, "verify", "--checkpoint", str(checkpoint))
    assert result.returncode == 1, result.stdout  # ...but not an extension of what was signed
    assert "consistency proof 21 -> 27: FAILED" in result.stdout
    assert "the first 21 events do not hash to the checkpoint's root" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_checkpoint_of_a_longer_log_shows_events_were_removed(
    log_url: str, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.txt"
    assert qp(log_url, tmp_path, "checkpoint", "--out", str(checkpoint)).returncode == 0
    sql(
        log_url,
        f"DELETE FROM {EVENTS} WHERE id > 18",
        f"DELETE FROM {INDEX} WHERE position > 18",
        "DELETE FROM qpledger_event_hashes WHERE position > 18",
        "DELETE FROM qpledger_merkle_nodes WHERE ((idx + 1) << level) > 18",
    )
    result = qp(log_url, tmp_path, "verify", "--checkpoint", str(checkpoint))
    assert result.returncode == 1
    assert "the checkpoint has 21 events, the log only 18: events were removed" in result.stderr
