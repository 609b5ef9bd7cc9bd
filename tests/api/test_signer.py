"""``GET /log/checkpoint`` never signs a fork, and ``/health`` says when it refuses (issue 11).

On SQLite and PostgreSQL: after a checkpoint, an event is rewritten and every
hash and node row rebuilt. The API then answers 503 ``signing-refused``
(problem+json naming both roots) instead of a second signed root for the same
size, the last signed head beside the key is unchanged, and ``/health``
reports ``signer.status: refusing`` — to anyone, no token needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from ledger.integrity.signed_head import state_file
from tests.api.apikit import CCG, build_signing, command, headers_factory, ledger_of
from tests.ledgerkit import rewrite_event

ORIGIN = "qp-ledger.test/api-signer"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = build_signing(database_url, tmp_path, ORIGIN)
    ledger = ledger_of(app)
    for i in range(3):
        ledger.execute(command("population_recorded", CCG, population=1000 + i, source="ONS"))
    yield app
    ledger.close()


def test_health_reports_the_signer(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    health = client.get("/health").json
    assert health["signer"] == {
        "status": "never-signed",
        "detail": "no checkpoint has been signed with this key",
    }
    auditor = headers_factory(app)("auditor")
    signed = client.get("/log/checkpoint.json", headers=auditor).json
    health = client.get("/health").json
    assert health["status"] == "ok"
    assert health["signer"]["status"] == "ok"
    assert health["signer"]["last_signed"]["tree_size"] == signed["tree_size"]


def test_a_rewritten_log_is_refused_and_health_says_so(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    auditor = headers_factory(app)("auditor")
    signed = client.get("/log/checkpoint", headers=auditor)
    assert signed.status_code == 200
    kept = state_file(tmp_path / "signing.key").read_text()
    assert kept == signed.get_data(as_text=True)

    rewrite_event(ledger_of(app), 2)
    for url in ("/log/checkpoint", "/log/checkpoint.json"):
        refused = client.get(url, headers=auditor)
        assert refused.status_code == 503
        assert refused.mimetype == "application/problem+json"
        assert refused.json["type"].endswith("signing-refused")
        assert "the log was rewritten" in refused.json["detail"]
    assert state_file(tmp_path / "signing.key").read_text() == kept

    health = client.get("/health")
    assert health.status_code == 200  # the process is alive; the signer is what refuses
    signer = health.json["signer"]
    assert signer["status"] == "refusing"
    assert "another root than the last signed checkpoint" in signer["detail"]
