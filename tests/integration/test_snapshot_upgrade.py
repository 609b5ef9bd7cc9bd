"""A database from before snapshots were authenticated upgrades by itself.

Its snapshots have no codes, so they could never be used and ``verify``
would name every one. Opening the ledger with today's code retires them
(they are a cache) in the transaction that creates the codes table: verify
passes, decisions are unchanged, and the next snapshot carries a code.
"""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from ledger.cli.main import main
from ledger.service.application import QPLedger
from tests.ledgerkit import SCHEME, behind_the_ledger, population


def _snapshots(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            snapshots = conn.execute(text("SELECT count(*) FROM qpledger_snapshots")).scalar()
            codes = conn.execute(text("SELECT count(*) FROM qpledger_snapshot_macs")).scalar()
    finally:
        engine.dispose()
    return int(snapshots or 0), int(codes or 0)


def _as_before_authentication(url: str) -> None:
    behind_the_ledger(url, "DROP TABLE qpledger_snapshot_macs")


def _write(ledger: QPLedger, n: int) -> None:
    for i in range(n):
        ledger.execute(population("06F", 400_000 + i))


def test_snapshots_without_codes_are_retired_when_the_ledger_opens(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = QPLedger(database_url)
    try:
        _write(ledger, 120)  # snapshots at versions 50 and 100
        before = ledger.decision("06F", SCHEME).document
    finally:
        ledger.close()
    assert _snapshots(database_url) == (2, 2)
    _as_before_authentication(database_url)

    with caplog.at_level(logging.WARNING, logger="ledger.adapters.snapshot_auth"):
        upgraded = QPLedger(database_url)
    try:
        assert "deleted 2 snapshot(s) written before snapshots were authenticated" in caplog.text
        assert _snapshots(database_url) == (0, 0)
        assert upgraded.decision("06F", SCHEME).document == before
        result = CliRunner().invoke(main, ["verify", "--database-url", database_url])
        assert result.exit_code == 0, result.output
        _write(upgraded, 40)  # version 150: a new snapshot, with its code
        assert _snapshots(database_url) == (1, 1)
    finally:
        upgraded.close()

    # Opening it again retires nothing: the table exists, its snapshots have codes.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ledger.adapters.snapshot_auth"):
        again = QPLedger(database_url)
    again.close()
    assert "deleted" not in caplog.text
    assert _snapshots(database_url) == (1, 1)
