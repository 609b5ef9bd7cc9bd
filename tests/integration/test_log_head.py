"""The log's head for "now" reads (ledger/adapters/log_head.py): one round trip, same answer.

On PostgreSQL the head is read on a pooled connection in autocommit; it must
answer exactly what the store's own query answers, after every write, and a
connection the server has dropped must not turn into a wrong head or a raw
driver error.
"""

from __future__ import annotations

import psycopg2
from sqlalchemy.exc import OperationalError

from ledger.adapters.log_head import head_reader
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"


def population(ccg: str, size: int) -> dict[str, object]:
    return {
        "type": "population_recorded",
        "ccg": ccg,
        "scheme": SCHEME,
        "population": size,
        "source": "ONS",
    }


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
        killer = psycopg2.connect(postgres_url.replace("postgresql+psycopg2", "postgresql"))
        killer.autocommit = True
        with killer.cursor() as cursor:  # the server drops every connection the ledger holds
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        killer.close()
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
