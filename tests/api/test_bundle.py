"""``GET …/issued-decisions/{id}/bundle`` on SQLite and PostgreSQL (issue 11 item 3).

The bundle the API serves is checked the way an auditor would: with
``ledger.integrity.bundle`` and the key published at ``/log/key``, nothing
else. Unknown issues are 404 problems; a rewritten log gets 503
``signing-refused``, not a bundle signed over the rewrite; the OpenAPI
document describes the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.integrity.bundle import verify_bundle
from tests.api.apikit import (
    CCG,
    SCHEME,
    build_signing,
    command,
    headers_factory,
    ledger_of,
    until_closed,
)
from tests.ledgerkit import rewrite_event

ORIGIN = "qp-ledger.test/api-bundle"
RECORD = f"/ccgs/{CCG}/schemes/{SCHEME}"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    yield from until_closed(build_signing(database_url, tmp_path, ORIGIN))


def issue(app: Flask) -> str:
    ledger = ledger_of(app)
    for i in range(3):
        ledger.execute(command("population_recorded", CCG, population=400_000 + i, source="ONS"))
    issued: dict[str, Any] = ledger.determinations.issue(CCG, SCHEME, actor="board#test")
    return str(issued["issue_id"])


def test_the_served_bundle_verifies_with_the_published_key(app: Flask) -> None:
    issue_id = issue(app)
    client: FlaskClient = app.test_client()
    auditor = headers_factory(app)("auditor")
    response = client.get(f"{RECORD}/issued-decisions/{issue_id}/bundle", headers=auditor)
    assert response.status_code == 200, response.get_data(as_text=True)
    bundle = json.loads(response.get_data())
    key = client.get("/log/key", headers=auditor).json["verifier_key"]
    report = verify_bundle(bundle, key)
    assert report.ok, report.problems
    assert bundle["issue_id"] == issue_id
    assert len(bundle["record"]["events"]) == 4  # opened + three populations
    assert (
        bundle["decision"]
        == ledger_of(app).determinations.issued_decision(CCG, SCHEME, issue_id)["document"]
    )


def test_unknown_issues_and_rewritten_logs_get_problems(app: Flask) -> None:
    issue_id = issue(app)
    client = app.test_client()
    board = headers_factory(app)("board")
    missing = client.get(f"{RECORD}/issued-decisions/{issue_id}0/bundle", headers=board)
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    made = client.get(f"{RECORD}/issued-decisions/{issue_id}/bundle", headers=board)
    assert made.status_code == 200

    rewrite_event(ledger_of(app), 2)
    refused = client.get(f"{RECORD}/issued-decisions/{issue_id}/bundle", headers=board)
    assert refused.status_code == 503
    assert refused.json["type"].endswith("signing-refused")
    assert "REFUSED to sign a checkpoint" in refused.json["detail"]


def test_the_openapi_document_describes_the_bundle(app: Flask) -> None:
    spec = app.test_client().get("/openapi.json").json
    path = "/ccgs/{ccg}/schemes/{scheme}/issued-decisions/{issue_id}/bundle"
    operation = spec["paths"][path]
    answer = operation["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/EvidenceBundle")
    schema = spec["components"]["schemas"]["EvidenceBundle"]
    assert set(schema["required"]) >= {"format", "decision", "record", "checkpoint"}
