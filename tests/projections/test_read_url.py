"""QP_LEDGER_READ_DATABASE_URL: the reports read the read models there, everything else stays put.

Two real databases on each backend: the main one (A) holds five CCGs' demo
year, projected; the read one (B) holds a different ledger (two CCGs),
projected too. Pointing the app's read URL at B must make every report and
the console's overview show B's figures, while writes, decisions and tokens
go to A. A streaming replica is the use (docs/scaling.md); a database whose
read models differ is what proves the reports read nothing else.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES_URL, SCRATCH_DB, SERVER_URL, require_postgres, reset_postgres
from tests.console.consolekit import sign_in
from tests.projections.projkit import SCHEME, Harness, bearer, demo, reports_app

READ_DB = f"{SCRATCH_DB}_read"
MAIN_CCGS = {c["ccg"] for c in demo(5)}
READ_CCGS = {c["ccg"] for c in demo(2)}


def _admin(statement: str) -> None:
    engine = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(statement))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(main URL, read URL): two separate, empty databases on one backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'main.db'}", f"sqlite:///{tmp_path / 'read.db'}"
        return
    require_postgres()
    reset_postgres()
    _admin(f"DROP DATABASE IF EXISTS {READ_DB} WITH (FORCE)")
    _admin(f"CREATE DATABASE {READ_DB}")
    yield POSTGRES_URL, POSTGRES_URL.rsplit("/", 1)[0] + "/" + READ_DB
    _admin(f"DROP DATABASE IF EXISTS {READ_DB} WITH (FORCE)")


@pytest.fixture
def main_and_read(urls: tuple[str, str]) -> Iterator[tuple[Harness, Harness]]:
    main, read = Harness(urls[0]), Harness(urls[1])
    main.load(demo(5))
    main.project()
    read.load(demo(2))
    read.project()
    yield main, read
    read.close()
    main.close()


@pytest.fixture
def app(main_and_read: tuple[Harness, Harness]) -> Iterator[Flask]:
    main, read = main_and_read
    settings = {"QP_LEDGER_DATABASE_URL": main.url, "QP_LEDGER_READ_DATABASE_URL": read.url}
    yield from reports_app(settings, main.ledger)


def test_reports_read_the_read_database_and_nothing_else_does(
    app: Flask, main_and_read: tuple[Harness, Harness]
) -> None:
    main, read = main_and_read
    assert READ_CCGS < MAIN_CCGS
    client: FlaskClient = app.test_client()
    reporter = bearer(app, "reporter")  # a token stored in A: the API authenticates there

    decisions = client.get("/reports/decisions?page_size=100", headers=reporter)
    assert decisions.status_code == 200
    assert {d["ccg"] for d in decisions.json} == READ_CCGS
    assert int(decisions.headers["X-Projection-Position"]) == read.ledger.max_position()
    nation = client.get(f"/reports/summaries?scheme={SCHEME}", headers=reporter).json
    assert nation[0]["ccgs"] == len(READ_CCGS)
    status = client.get("/reports/status", headers=reporter).json
    assert status["head"] == read.ledger.max_position() != main.ledger.max_position()
    only_main = sorted(MAIN_CCGS - READ_CCGS)[0]
    shown = sorted(READ_CCGS)[0]
    report = f"/reports/ccgs/{only_main}/decision?scheme={SCHEME}"
    assert client.get(report, headers=reporter).status_code == 404
    document = client.get(f"/reports/ccgs/{shown}/decision?scheme={SCHEME}", headers=reporter)
    stored, _ = read.read.decision_document(shown, SCHEME)
    assert stored is not None and document.json["position"] == stored["position"]
    timeline = client.get(f"/reports/ccgs/{only_main}/timeline?scheme={SCHEME}", headers=reporter)
    assert timeline.status_code == 200 and timeline.json == []

    # Decisions and history come from the main database: that CCG is there.
    ccg = bearer(app, "ccg", only_main)
    record = f"/ccgs/{only_main}/schemes/{SCHEME}"
    decision = client.get(f"{record}/decision", headers=ccg)
    assert decision.status_code == 200
    assert decision.json["position"] == main.ledger.decision(only_main, SCHEME).document["position"]
    assert client.get(f"{record}/history", headers=ccg).status_code == 200

    # A write goes to A; B's log does not move.
    before = read.ledger.max_position()
    written = client.post(
        f"{record}/population",
        json={"population": 123456, "source": "ONS"},
        headers={**bearer(app, "board"), "Idempotency-Key": "read-url-1"},
    )
    assert written.status_code == 201, written.json
    position = written.json["position"]
    assert main.ledger.max_position() == position > before == read.ledger.max_position()

    # min_position is checked against A's log, then waits for B: a lagging replica
    # makes the request wait and answer 503 "projection-behind", never 422.
    behind = client.get(f"/reports/decisions?min_position={position}", headers=reporter)
    assert behind.status_code == 503 and behind.json["code"] == "projection-behind"
    beyond = client.get(f"/reports/decisions?min_position={position + 1000}", headers=reporter)
    assert beyond.status_code == 422


def test_the_consoles_report_pages_read_the_read_database(app: Flask) -> None:
    client = app.test_client()
    _, plaintext = app.extensions["qp_tokens"].create("reporter", None)
    assert sign_in(client, plaintext).status_code == 303
    listed = client.get(f"/console/overview.csv?scheme={SCHEME}")
    assert listed.status_code == 200
    rows = list(csv.DictReader(io.StringIO(listed.get_data(as_text=True))))
    assert {r["ccg"] for r in rows} == READ_CCGS
