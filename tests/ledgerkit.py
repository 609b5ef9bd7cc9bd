"""Shared by the integration and API tests: commands, log rewrites, fresh ledgers.

Importable from any test directory because tests/conftest.py lives beside it
(pytest's default import mode puts this directory on ``sys.path``).
"""

from __future__ import annotations

from itertools import count
from typing import Any

from integrity_attack import rebuild_log
from sqlalchemy import Table, create_engine, text

from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"
#: A valid choice for the scheme's three local measure slots (``local_measures_selected``).
LOCAL_MEASURES = [
    {
        "slot": "local-1",
        "name": "Dementia diagnosis",
        "criterion": "dementia-diagnosis-rate",
        "direction": "higher",
    },
    {
        "slot": "local-2",
        "name": "Smoking at time of delivery",
        "criterion": "smoking-at-delivery",
        "direction": "lower",
    },
    {
        "slot": "local-3",
        "name": "IAPT access",
        "criterion": "iapt-access-rate",
        "direction": "higher",
    },
]


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
    return rebuild_log(store)


class Ledgers:
    """Fresh empty ledgers on the backend under test (one test, many examples)."""

    def __init__(self, database_url: str) -> None:
        self.base_url = database_url
        self.numbers = count()

    def fresh(self) -> QPLedger:
        if self.base_url.startswith("sqlite"):
            directory = self.base_url.removeprefix("sqlite:///").rsplit("/", 1)[0]
            return QPLedger(f"sqlite:///{directory}/example-{next(self.numbers)}.db")
        engine = create_engine(self.base_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return QPLedger(self.base_url)
