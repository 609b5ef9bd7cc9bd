"""The service's unit layer: the whole application on the in-memory store, no database.

``QPLedger("memory:")`` (ledger/adapters/memory.py) runs the same service code
as SQLite and PostgreSQL; what only SQL has (read models, Merkle proofs,
bundles) is tested in tests/integration and tests/projections. Run with the
other unit tests: ``.venv/bin/python -m pytest -n 0 -q tests/unit tests/service``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.service.application import QPLedger

from .kit import Clock


@pytest.fixture
def ledger() -> Iterator[QPLedger]:
    """A fresh in-memory ledger (overrides the SQLite/PostgreSQL one of tests/conftest.py)."""
    app = QPLedger("memory:")
    yield app
    app.close()


@pytest.fixture
def clock(ledger: QPLedger) -> Clock:
    """The ledger's clock, moved by hand: recorded times the test can name."""
    moved = Clock()
    ledger.log_store.clock = moved
    return moved
