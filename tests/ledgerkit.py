"""Shared by the integration and API tests: commands, log rewrites, fresh ledgers.

``tests/`` and its folders are packages, so every test imports it as
``tests.ledgerkit`` (and the folder kits as ``tests.api.apikit`` …): test
files need no prefixes to keep their module names apart.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from sqlalchemy import Table, create_engine, text

from ledger.service.application import QPLedger
from tests.integrity_attack import rebuild_log

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


class AppealYear:
    """NHS Bedfordshire's (06F) 2013/14 as both appeal stories tell it: through the
    ledger (tests/e2e/test_appeal_story.py) and over HTTP (tests/api/
    test_determinations.py). Their expected pence are worked out from these."""

    POPULATION = 449_953
    #: (slot, name, criterion, direction) of each local measure the CCG selects.
    LOCALS = [
        ("local-1", "Dementia diagnosis", "dementia-rate", "higher"),
        ("local-2", "COPD admissions", "copd-admissions", "lower"),
        ("local-3", "Stroke care", "stroke-tia", "higher"),
    ]
    #: (measure, criterion) -> (baseline, target) agreed with the area team.
    THRESHOLDS = {
        ("pyll", "pyll-rate"): (2100, 2000),
        ("avoidable-emergency-admissions", "admissions-rate"): (1200, 1150),
        ("friends-and-family", "experience-score"): (70, 72),
        ("hcai", "cdiff-cases"): (40, 35),
        ("local-1", "dementia-rate"): (Decimal("0.45"), Decimal("0.5")),
        ("local-2", "copd-admissions"): (300, 280),
        ("local-3", "stroke-tia"): (Decimal("0.6"), Decimal("0.65")),
    }
    #: (measure, criterion) -> the year's value the CCG submits.
    VALUES = {
        ("pyll", "pyll-rate"): 1990,
        ("avoidable-emergency-admissions", "admissions-rate"): 1160,
        ("friends-and-family", "rollout"): 1,
        ("friends-and-family", "experience-score"): 74,
        ("hcai", "mrsa-cases"): 0,
        ("hcai", "cdiff-cases"): 30,
        ("local-1", "dementia-rate"): Decimal("0.52"),
        ("local-2", "copd-admissions"): 275,
        ("local-3", "stroke-tia"): Decimal("0.7"),
    }
    #: standard -> the year's result the Board submits.
    STANDARDS = {
        "rtt-18-weeks": Decimal("0.93"),
        "ae-4-hours": Decimal("0.94"),  # below 0.95: 25% off
        "cancer-2-week-wait": Decimal("0.95"),
        "ambulance-cat-a-8-min": Decimal("0.8"),
    }
    #: The quality failure the Board flags, which closes the quality gate (and is appealed).
    FLAG = {
        "flag_id": "QF-2013-07",
        "description": "Serious incident at the main acute provider",
    }


def population(ccg: str, value: int) -> dict[str, Any]:
    """The simplest command that opens a CCG's record or adds to it."""
    return {
        "type": "population_recorded",
        "ccg": ccg,
        "scheme": SCHEME,
        "population": value,
        "source": "ONS",
    }


def inclusion_check(key: str, leaf: str, proof: str, checkpoint: str) -> list[str]:
    """``qp-verify``'s arguments for one inclusion proof (run in-process and as a command)."""
    return ["inclusion", "--key", key, "--leaf", leaf, "--proof", proof, checkpoint]


def consistency_check(key: str, old: str, proof: str, checkpoint: str) -> list[str]:
    """``qp-verify``'s arguments for one consistency proof from the ``old`` checkpoint."""
    return ["consistency", "--key", key, "--old", old, "--proof", proof, checkpoint]


def small_log(url: str) -> QPLedger:
    """A ledger on ``url`` holding six events: three populations each for 00C and 00D."""
    app = QPLedger(url)
    for n in range(3):
        for ccg in ("00C", "00D"):
            app.execute(population(ccg, 100_000 + n))
    return app


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


def behind_the_ledger(url: str, statement: str, **params: Any) -> None:
    """Run ``statement`` on ``url`` in a connection of its own, as anyone with the database can."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def move_index_row(url: str, position: int) -> None:
    """Point the index row of ``position`` at another (all-zero) stream."""
    behind_the_ledger(
        url,
        "UPDATE qpledger_event_index SET originator_id = :other WHERE position = :p",
        other="00000000-0000-0000-0000-000000000000",
        p=position,
    )


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


def fresh_ledger_examples(max_examples: int) -> settings:
    """Hypothesis settings for properties whose every example starts from ``Ledgers.fresh``.

    A fresh database per example makes shrinking a failure take minutes, so
    there is none (the failing commands go in the assertion message); the
    function-scoped ``Ledgers`` fixture is meant to serve every example.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
