"""Idempotency rows vouched for by their writes' key codes, on SQLite and PostgreSQL.

A keyed retry over a row edited, re-pointed, made up or deleted in SQL is an
error naming the row (never another write's receipt, never a second write),
and ``qp-ledger verify`` names the row. A database from before key codes
keeps working: its rows are used as they are, and ``verify`` says so.
(Every tamper kind, on both databases: tests/integration/test_tamper_tables.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger.adapters.key_codes import IdempotencyTampered
from ledger.cli.main import main
from ledger.service.application import QPLedger
from tests.ledgerkit import behind_the_ledger, population

CCG, ACTOR = "00T", "board#t"


@pytest.fixture
def url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The database, with a key file of its own (so a test may take it away)."""
    monkeypatch.setenv("QP_LEDGER_SNAPSHOT_KEY_FILE", str(tmp_path / "codes.key"))
    yield database_url


def _write(url: str, *keys: str) -> dict[str, int]:
    ledger = QPLedger(url)
    try:
        return {
            key: ledger.execute(
                population(CCG, 100_000 + n), actor=ACTOR, idempotency_key=key
            ).position
            for n, key in enumerate(keys)
        }
    finally:
        ledger.close()


def _retry(url: str, key: str, n: int) -> Any:
    ledger = QPLedger(url)
    try:
        receipt = ledger.execute(population(CCG, 100_000 + n), actor=ACTOR, idempotency_key=key)
        return receipt, ledger.max_position()
    finally:
        ledger.close()


def _sql(url: str, *statements: str) -> None:
    for statement in statements:
        behind_the_ledger(url, statement)


def _verify(url: str, *options: str) -> Result:
    return CliRunner().invoke(main, ["verify", *options, "--database-url", url])


def test_a_retry_whose_row_was_deleted_is_refused_not_written_twice(url: str) -> None:
    written = _write(url, "k-0", "k-1")
    _sql(url, "DELETE FROM qpledger_idempotency WHERE key = 'k-0'")
    with pytest.raises(IdempotencyTampered, match=rf"key='k-0'.*position {written['k-0']}"):
        _retry(url, "k-0", 0)
    ledger = QPLedger(url)
    try:
        assert ledger.max_position() == written["k-1"]  # nothing written
    finally:
        ledger.close()
    report = json.loads(_verify(url, "--json").stdout)
    assert not report["ok"]
    assert {
        "table": "qpledger_idempotency",
        "row": f"position={written['k-0']}",
        "position": written["k-0"],
    }.items() <= report["problems"][0].items()


def test_a_row_pointed_at_another_write_is_an_error_not_that_writes_receipt(url: str) -> None:
    written = _write(url, "k-0", "k-1")
    _sql(
        url,
        "UPDATE qpledger_idempotency SET (version, position, recorded_us) = "
        "(SELECT version, position, recorded_us FROM qpledger_idempotency WHERE key = 'k-1') "
        "WHERE key = 'k-0'",
    )
    with pytest.raises(IdempotencyTampered, match=r"key='k-0'.*does not match the key code"):
        _retry(url, "k-0", 0)
    receipt, _ = _retry(url, "k-1", 1)  # the other row still vouched for
    assert (receipt.position, receipt.replayed) == (written["k-1"], True)
    assert "qpledger_idempotency row (actor='board#t', key='k-0')" in _verify(url).output


def test_a_made_up_row_is_not_taken_for_a_replay(url: str) -> None:
    _write(url, "k-0")
    _sql(
        url,
        "INSERT INTO qpledger_idempotency SELECT actor, 'made-up', request_digest, type, ccg, "
        "scheme, version, position, recorded_us FROM qpledger_idempotency WHERE key = 'k-0'",
    )
    with pytest.raises(IdempotencyTampered, match=r"key='made-up'.*no key code"):
        _retry(url, "made-up", 0)
    result = _verify(url)
    assert result.exit_code == 1
    assert "key='made-up'" in result.output


def test_an_edited_request_digest_is_named(url: str) -> None:
    _write(url, "k-0")
    _sql(url, "UPDATE qpledger_idempotency SET request_digest = 'sha256:00' WHERE key = 'k-0'")
    with pytest.raises(IdempotencyTampered, match="key='k-0'"):
        _retry(url, "k-0", 0)
    assert "key='k-0'" in _verify(url).output


def test_a_database_from_before_key_codes_keeps_working(url: str) -> None:
    old = _write(url, "k-0", "k-1")
    _sql(url, "DROP TABLE qpledger_key_codes", "DROP TABLE qpledger_key_codes_since")
    receipt, head = _retry(url, "k-0", 0)  # opening it fixes the epoch after the last event
    assert (receipt.position, receipt.replayed, head) == (old["k-0"], True, old["k-1"])
    result = _verify(url)
    assert result.exit_code == 0, result.output
    assert (
        f"note: idempotency rows: 2 written before key codes (positions before {old['k-1'] + 1}) "
        "are checked against their events only"
    ) in result.output
    new = _write(url, "k-2")
    _sql(url, "DELETE FROM qpledger_idempotency WHERE key = 'k-2'")
    with pytest.raises(IdempotencyTampered, match="key='k-2'"):
        _retry(url, "k-2", 0)
    result = _verify(url)
    assert result.exit_code == 1
    assert f"qpledger_idempotency row (position={new['k-2']})" in result.output


def test_without_the_key_file_verify_checks_the_shape_of_the_codes(
    url: str, tmp_path: Path
) -> None:
    _write(url, "k-0", "k-1")
    (tmp_path / "codes.key").rename(tmp_path / "elsewhere.key")
    result = _verify(url)
    assert result.exit_code == 0, result.output
    assert "by shape only" in result.output
    assert not (tmp_path / "codes.key").exists()  # verifying never makes a key
    _sql(url, "DELETE FROM qpledger_idempotency WHERE key = 'k-1'")
    assert _verify(url).exit_code == 1  # a code for a key with no row
