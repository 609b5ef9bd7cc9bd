"""An idempotency row deleted in SQL: the retry is a problem naming it, not a second write.

500 (the fault is the server's data, not the request), problem type
``tampered-idempotency``; the record keeps one event for the key.
"""

from __future__ import annotations

from flask import Flask

from tests.api.apikit import BODIES, CCG, RECORD, SCHEME, headers_factory, ledger_of
from tests.ledgerkit import behind_the_ledger


def test_a_retry_whose_row_was_deleted_is_a_problem_naming_it(
    api_app: Flask, database_url: str
) -> None:
    ledger = ledger_of(api_app)
    client = api_app.test_client()
    headers = {**headers_factory(api_app)("ccg"), "Idempotency-Key": "q4-return"}
    first = client.post(f"{RECORD}/measure-values", json=BODIES["measure-values"], headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    behind_the_ledger(database_url, "DELETE FROM qpledger_idempotency WHERE key = 'q4-return'")

    again = client.post(f"{RECORD}/measure-values", json=BODIES["measure-values"], headers=headers)
    assert again.status_code == 500, again.get_data(as_text=True)
    assert again.mimetype == "application/problem+json"
    problem = again.get_json()
    assert problem["code"] == "tampered-idempotency"
    assert "key='q4-return'" in problem["detail"]
    receipt = first.get_json()
    assert f"position {receipt['position']}" in problem["detail"]
    assert ledger.stream_version(CCG, SCHEME) == receipt["version"]  # not written twice
