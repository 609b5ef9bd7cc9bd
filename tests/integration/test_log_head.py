"""One-round-trip reads (ledger/adapters/log_head.py): the log head and a stream's version.

On PostgreSQL they are read on a pooled connection in autocommit; they must
answer exactly what the store's own queries answer, after every write (a
tampered index refused alike), and a connection the server has dropped must
not turn into a wrong head or a raw driver error.
"""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy.exc import OperationalError

from ledger.adapters.index_guard import IndexTampered
from ledger.adapters.log_head import head_reader, version_reader
from ledger.domain.record import stream_id
from ledger.projections import ReadModels
from ledger.service.application import QPLedger
from tests.api.apikit import project
from tests.ledgerkit import SCHEME, move_index_row, population


def drop_every_connection(url: str) -> None:
    """The server drops every connection to the database but this one's."""
    killer = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    killer.close()


def test_the_head_is_the_stores_head_after_every_write(ledger: QPLedger) -> None:
    head = head_reader(ledger.log_store)
    assert head() == ledger.log_store.head() == 0
    for i, ccg in enumerate(["06F", "00C", "06F"]):
        receipt = ledger.execute(population(ccg, 400_000 + i))
        assert head() == ledger.log_store.head() == receipt.position
        document = ledger.decision(ccg, SCHEME).document  # "now" reads through it
        assert document["position"] == receipt.position


def test_a_dropped_connection_is_not_reused_and_no_raw_driver_error_escapes(
    postgres_url: str,
) -> None:
    ledger = QPLedger(postgres_url)
    try:
        receipt = ledger.execute(population("06F", 400_000))
        head = head_reader(ledger.log_store)
        assert head is not ledger.log_store.head  # the one-round-trip reader is in use
        assert head() == receipt.position
        drop_every_connection(postgres_url)
        answers = []
        for _ in range(3):
            try:
                answers.append(head())
            except OperationalError:  # SQLAlchemy's (a 503 over HTTP), never psycopg2's own
                continue
        assert answers and set(answers) == {receipt.position}
    finally:
        ledger.close()


def test_sqlite_and_memory_use_the_stores_own_query(sqlite_url: str) -> None:
    for url in (sqlite_url, "memory:"):
        ledger = QPLedger(url)
        assert head_reader(ledger.log_store) == ledger.log_store.head
        ledger.close()


def test_the_stream_version_and_its_index_guard_agree_with_the_stores(ledger: QPLedger) -> None:
    receipts = [
        ledger.execute(population(ccg, 400_000 + i))
        for i, ccg in enumerate(["06F", "00C", "06F", "00C", "06F"])
    ]
    version_at = version_reader(ledger.log_store)
    for ccg in ("06F", "00C", "00D"):
        oid = str(stream_id(ccg, SCHEME))
        for position in range(0, receipts[-1].position + 1):
            expected = ledger.log_store.stream_version_at(oid, position)
            assert version_at(oid, position) == expected, (ccg, position)


def test_a_moved_index_row_is_refused_by_the_one_statement_read_too(postgres_url: str) -> None:
    ledger = QPLedger(postgres_url)
    try:
        first = ledger.execute(population("06F", 400_000))
        moved = ledger.execute(population("06F", 400_001)).position
        ledger.execute(population("06F", 400_002))
        version_at = version_reader(ledger.log_store)
        assert version_at is not ledger.log_store.stream_version_at
        oid = str(stream_id("06F", SCHEME))
        for position in (first.position, moved):
            assert version_at(oid, position) == ledger.log_store.stream_version_at(oid, position)
        move_index_row(postgres_url, moved)
        for read in (version_at, ledger.log_store.stream_version_at):
            with pytest.raises(IndexTampered) as refused:
                read(oid, moved)
            assert "has no index row" in str(refused.value) or str(moved) in str(refused.value)
    finally:
        ledger.close()


def test_where_a_read_model_stands_survives_dropped_connections(postgres_url: str) -> None:
    ledger = QPLedger(postgres_url)
    models = ReadModels(postgres_url)
    try:
        ledger.execute(population("06F", 400_000))
        project(ledger)
        stands = models.stands("decisions")
        assert stands[1] == ledger.max_position()
        drop_every_connection(postgres_url)  # both engines' pooled connections are dead
        answers = []
        for _ in range(3):
            try:
                answers.append(models.stands("decisions"))
            except OperationalError:  # SQLAlchemy's (a 503 over HTTP), never psycopg2's own
                continue
        assert answers and set(answers) == {stands}
    finally:
        models.close()
        ledger.close()
