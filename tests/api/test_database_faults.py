"""When the database fails mid-request, the client is told the truth.

A write whose outcome is unknown (the connection dropped, the database was
busy) is a 503 problem with ``Retry-After`` that says so and points at the
``Idempotency-Key`` -- never a 500 that claims "nothing was stored" about a
write that may have committed. The receipt of a write comes from the write's
own transaction, so a failure after the commit cannot turn an acknowledged
write into an error. And no log line carries a statement's parameters.
"""

from __future__ import annotations

import logging
import sqlite3

import pytest

from ledger.adapters.tokens import hash_token
from ledger.service.application import QPLedger
from tests.api.apikit import RECORD, build, ledger_of
from tests.ledgerkit import behind_the_ledger

VALUE = {"measure": "hcai", "criterion": "mrsa-cases", "period": "2013-14", "value": 0}


def mrsa_events(ledger: QPLedger) -> int:
    history = ledger.history("06F", "qp-2013-14", offset=0, limit=1000)
    return sum(1 for e in history if e["type"] == "measure_submitted")


def test_the_receipt_comes_from_the_writes_own_transaction(ledger: QPLedger, monkeypatch) -> None:
    """Reading the recorded time back after the commit is a query that can fail."""
    ledger.execute({"type": "population_recorded", "ccg": "06F", "scheme": "qp-2013-14",
                    "population": 452475, "source": "ONS"})  # fmt: skip

    def connection_lost(*args: object) -> int:
        raise AssertionError("the receipt was read back with a second query")

    monkeypatch.setattr(type(ledger.store), "recorded_us", connection_lost)
    receipt = ledger.execute({"type": "measure_submitted", "ccg": "06F", "scheme": "qp-2013-14",
                              **VALUE})  # fmt: skip
    monkeypatch.undo()
    assert (
        receipt.recorded_at
        == ledger.history("06F", "qp-2013-14", offset=0, limit=10)[-1]["recorded_at"]
    )
    assert receipt.position == ledger.max_position()


def test_a_lost_postgres_connection_is_503_and_a_keyed_retry_stores_once(
    postgres_url: str,
) -> None:
    app = build(postgres_url)
    try:
        client, ccg = opened_record(app)
        # The server drops every connection of the app (a failover, a restart).
        behind_the_ledger(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        keyed = {"Authorization": f"Bearer {ccg}", "Idempotency-Key": "mrsa-after-failover"}
        r = client.post(f"{RECORD}/measure-values", json=VALUE, headers=keyed)
        assert r.status_code == 503, r.json
        assert r.headers["Retry-After"].isdigit()
        assert r.mimetype == "application/problem+json"
        assert r.json["code"] == "database-unavailable"
        assert "nothing was stored" not in r.json["detail"]
        assert "Idempotency-Key" in r.json["detail"]
        for _ in range(2):  # the retry the problem asked for, then a retry of the retry
            r = client.post(f"{RECORD}/measure-values", json=VALUE, headers=keyed)
            assert r.status_code == 201, r.json
        assert r.headers.get("Idempotent-Replayed") == "true"
        assert mrsa_events(ledger_of(app)) == 1
    finally:
        ledger_of(app).close()


def test_a_sqlite_database_locked_by_another_process_is_503_and_stores_nothing(
    sqlite_url: str,
) -> None:
    app = build(sqlite_url)
    try:
        client, ccg = opened_record(app)
        auth = {"Authorization": f"Bearer {ccg}"}
        head = ledger_of(app).max_position()
        holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock, and keeps it
        try:
            r = client.post(f"{RECORD}/measure-values", json=VALUE, headers=auth)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert r.status_code == 503, r.json
        assert r.headers["Retry-After"].isdigit()
        assert r.json["code"] == "database-unavailable"
        assert ledger_of(app).max_position() == head
        assert mrsa_events(ledger_of(app)) == 0
        r = client.post(f"{RECORD}/measure-values", json=VALUE, headers=auth)
        assert r.status_code == 201
    finally:
        ledger_of(app).close()


def test_no_log_line_carries_a_statements_parameters(
    api_app, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error is logged with its SQL, never its values (here: a token's hash)."""
    token, _ = _board(api_app)
    behind_the_ledger(database_url, "DROP TABLE qp_ledger_api_tokens")
    with caplog.at_level(logging.DEBUG):
        r = api_app.test_client().get(
            f"{RECORD}/decision", headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code >= 500
    assert "nothing was stored" not in r.json["detail"]
    logged = caplog.text + "".join(str(rec.exc_info) for rec in caplog.records if rec.exc_info)
    assert "qp_ledger_api_tokens" in logged  # the failure is logged...
    assert hash_token(token) not in logged  # ...without the hash it looked up
    assert token not in logged


def opened_record(app):
    """A test client, and a ``ccg`` token for 06F, whose record the Board has opened."""
    client = app.test_client()
    board, _ = _board(app)
    r = client.post(f"{RECORD}/population", json={"population": 452475, "source": "ONS"},
                    headers={"Authorization": f"Bearer {board}"})  # fmt: skip
    assert r.status_code == 201, r.json
    return client, app.extensions["qp_tokens"].create("ccg", "06F", "faults")[1]


def _board(app) -> tuple[str, str]:
    store = app.extensions["qp_tokens"]
    created, plaintext = store.create("board", None, "faults")
    return plaintext, created.id
