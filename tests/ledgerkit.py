"""Shared by the integration and API tests of the tamper-evident log.

Importable from any test directory because tests/conftest.py lives beside it
(pytest's default import mode puts this directory on ``sys.path``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from ledger.application import QPLedger

SCHEME = "qp-2013-14"


def population(ccg: str, value: int) -> dict[str, Any]:
    """The simplest command that opens a CCG's record or adds to it."""
    return {
        "type": "population_recorded",
        "ccg": ccg,
        "scheme": SCHEME,
        "population": value,
        "source": "ONS",
    }


def rewrite_event(ledger: QPLedger, position: int) -> int:
    """Edit an event and rebuild every hash and node row, as an attacker with the database can.

    The database agrees with itself again afterwards, so only a checkpoint
    signed before (or the signer's last signed head) can tell. Returns how
    many events the rebuild hashed.
    """
    store = ledger.store
    events: Table = store.events_record_cls.__table__
    with store.datastore.engine.begin() as conn:
        conn.execute(events.update().where(events.c.id == position).values(state=b"{}"))
        for table in store.integrity.tables:
            conn.execute(table.delete())
    return store.backfill_integrity()
