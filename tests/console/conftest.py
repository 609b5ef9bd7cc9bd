"""Console fixtures: an app with three CCGs' demo year, its read models built, on both backends.

Three CCGs, not 211: the pages ask the same questions whatever the size, and
the tests must stay quick. 06F and 00C are in different area teams, so one
CCG's token can be shown the door of the other's pages. Helpers: consolekit.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.console.consolekit import Token, apikit_helpers, demo_lines

build, ledger_of, project, tokens_of = apikit_helpers()


@pytest.fixture
def console_app(database_url: str) -> Iterator[Flask]:
    app = build(database_url)
    ledger = ledger_of(app)
    report = ledger.import_lines(list(demo_lines()))
    assert report.rejected == 0, report.errors
    project(ledger)
    yield app
    reports = app.extensions.get("qp_ledger_reports")
    if reports is not None:
        reports.close()
    ledger.close()


@pytest.fixture
def client(console_app: Flask) -> FlaskClient:
    return console_app.test_client()


@pytest.fixture
def token(console_app: Flask) -> Token:
    def make(role: str, org: str | None = None) -> str:
        _, plaintext = tokens_of(console_app).create(role, org)
        return plaintext

    return make
