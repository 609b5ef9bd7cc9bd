"""Read model fixtures: a followed ledger and its read models, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.projections.projkit import Harness


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    h = Harness(database_url)
    yield h
    h.close()


@pytest.fixture
def pg_harness(postgres_url: str) -> Iterator[Harness]:
    h = Harness(postgres_url)
    yield h
    h.close()
