"""Index codes: a recorded time edited in the position index is never served.

The tamper suite (test_tamper_tables.py) covers decisions read at positions;
here, on SQLite and PostgreSQL: a decision "as of" an instant (found by the
times), the read models a projector builds from them, and a database from
before index codes (its older rows stay usable; new rows get codes).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from ledger.adapters.index_guard import IndexTampered
from ledger.domain.clock import us_to_iso
from ledger.projections.scan import record_events
from ledger.service.application import QPLedger
from tests.ledgerkit import SCHEME, behind_the_ledger, population

CCG = "00T"
EDIT_TIME = "UPDATE qpledger_event_index SET recorded_us = recorded_us"


def _written(url: str, n: int) -> list[int]:
    """``n`` events for one CCG; their recorded times, in log order."""
    ledger = QPLedger(url)
    try:
        for i in range(n):
            ledger.execute(population(CCG, 100_000 + i), actor="board#test")
        index = ledger.store.index
        with ledger.store.datastore.engine.connect() as conn:  # type: ignore[union-attr]
            return [
                int(t)
                for (t,) in conn.execute(select(index.c.recorded_us).order_by(index.c.position))
            ]
    finally:
        ledger.close()


def _sql(url: str, *statements: str) -> None:
    for statement in statements:
        behind_the_ledger(url, statement)


def _as_of(url: str, instant_us: int) -> Any:
    ledger = QPLedger(url)
    try:
        return ledger.decision(CCG, SCHEME, as_of=us_to_iso(instant_us)).document
    except IndexTampered as e:
        return e
    finally:
        ledger.close()


@pytest.mark.parametrize("shift", [-1, +1], ids=["earlier", "later"])
def test_an_edited_time_never_moves_an_as_of_decision(database_url: str, shift: int) -> None:
    times = _written(database_url, 6)
    instant = times[2]  # the log as it stood when its third event was recorded
    honest = _as_of(database_url, instant)
    assert honest["position"] == 3
    # Pull the fourth event into the instant, or push the third one out of it.
    edits = {-1: {3: instant - 2, 4: instant - 1}, +1: {3: instant + 1}}[shift]
    _sql(
        database_url,
        *(
            f"UPDATE qpledger_event_index SET recorded_us = {us} WHERE position = {p}"
            for p, us in edits.items()
        ),
    )
    refused = _as_of(database_url, instant)
    assert isinstance(refused, IndexTampered), refused
    assert "qpledger_event_index row (position=" in str(refused)
    assert "does not match its index code" in str(refused)


def test_an_edited_time_stops_the_read_models_not_misquoted(database_url: str) -> None:
    _written(database_url, 4)
    _sql(database_url, f"{EDIT_TIME} - 1 WHERE position = 4")
    ledger = QPLedger(database_url)
    try:
        with pytest.raises(IndexTampered, match=r"position=4\).*does not match its index code"):
            list(record_events(ledger, 0, 4))
    finally:
        ledger.close()


def test_a_database_from_before_index_codes_stays_readable(database_url: str) -> None:
    """Older rows carry no codes: they are served and verified against their events only."""
    _written(database_url, 3)
    _sql(database_url, "DROP TABLE qpledger_index_codes", "DROP TABLE qpledger_index_codes_since")
    ledger = QPLedger(database_url)  # creates the tables; the epoch is position 5
    try:
        assert ledger.store.index_codes.since_table is not None
        before = ledger.decision(CCG, SCHEME).document
        assert before["position"] == 4  # the first write opened the record: two events
        ledger.execute(population(CCG, 7), actor="board#test")
        after = ledger.decision(CCG, SCHEME).document
        assert after["position"] == 5
        engine = ledger.store.datastore.engine
        with engine.connect() as conn:  # type: ignore[union-attr]
            since = conn.execute(text("SELECT since FROM qpledger_index_codes_since")).scalar()
            coded = conn.execute(text("SELECT position FROM qpledger_index_codes")).scalars()
            assert (since, list(coded)) == (5, [5])
    finally:
        ledger.close()
    # A row from the epoch on is refused when read, once edited.
    _sql(database_url, f"{EDIT_TIME} + 1 WHERE position = 5")
    ledger = QPLedger(database_url)
    try:
        with pytest.raises(IndexTampered, match=r"position=5\)"):
            ledger.decision(CCG, SCHEME)
    finally:
        ledger.close()


def test_a_code_before_the_epoch_means_the_epoch_was_moved(database_url: str) -> None:
    _written(database_url, 3)
    _sql(database_url, "UPDATE qpledger_index_codes_since SET since = 3")
    ledger = QPLedger(database_url)
    try:
        # Rows 3 and 4 now sit after an epoch their codes were not written under, and
        # the code of row 2 before it: whichever is read first refuses the read.
        with pytest.raises(IndexTampered, match=r"qpledger_event_index row \(position=\d\)"):
            ledger.decision(CCG, SCHEME, position=2)
    finally:
        ledger.close()
