"""API fixtures: a fresh app per test on each backend, and a token per role.

``api_app`` builds on the root conftest's ``database_url`` (SQLite and
PostgreSQL), so every API test that takes it runs on both. Helpers live in
``apikit.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.service.application import QPLedger
from tests.api.apikit import HeadersFor, build, headers_factory, ledger_of, until_closed


@pytest.fixture
def api_app(database_url: str) -> Iterator[Flask]:
    yield from until_closed(build(database_url))


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Iterator[Flask]:
    """For behaviour that is pure HTTP (routing, parsing) and not worth a second backend."""
    yield from until_closed(build(sqlite_url))


@pytest.fixture
def client(api_app: Flask) -> FlaskClient:
    return api_app.test_client()


@pytest.fixture
def headers(api_app: Flask) -> HeadersFor:
    return headers_factory(api_app)


@pytest.fixture
def ledger(api_app: Flask) -> QPLedger:
    """The app's own ledger (overrides the root fixture: one ledger per test)."""
    return ledger_of(api_app)
