"""Replays at a log position and as of a recorded time, on the in-memory store."""

from __future__ import annotations

import pytest

from ledger.domain.clock import us_to_iso
from ledger.domain.errors import InvalidCommand, UnknownCCG
from ledger.service.application import QPLedger

from .kit import SCHEME, SECOND, START_US, Clock, flag, population


def test_a_decision_at_a_position_uses_the_log_prefix(ledger: QPLedger, clock: Clock) -> None:
    ledger.execute(population(size=100_000))
    clock.now += 10 * SECOND
    ledger.execute(population(size=200_000))
    assert ledger.decision("06F", SCHEME, position=2).document["population"] == 100_000
    assert ledger.decision("06F", SCHEME, position=3).document["population"] == 200_000
    assert ledger.decision("06F", SCHEME).document["position"] == 3
    # Before the record was opened, nothing is known.
    empty = ledger.decision("06F", SCHEME, position=0).document
    assert empty["population"] is None and empty["position"] == 0


def test_as_of_is_the_last_position_recorded_by_then(ledger: QPLedger, clock: Clock) -> None:
    ledger.execute(population(size=100_000))
    clock.now += 10 * SECOND
    ledger.execute(population(size=200_000))
    between = us_to_iso(START_US + 5 * SECOND)
    assert ledger.resolve_point(as_of=between) == (2, between)
    doc = ledger.decision("06F", SCHEME, as_of=between).document
    assert (doc["population"], doc["position"], doc["as_of"]) == (100_000, 2, between)
    assert ledger.resolve_point(as_of=us_to_iso(START_US - SECOND))[0] == 0


def test_refused_points(ledger: QPLedger, clock: Clock) -> None:
    ledger.execute(population())
    with pytest.raises(InvalidCommand, match=r"beyond the end of the log \(2\)"):
        ledger.decision("06F", SCHEME, position=3)
    with pytest.raises(InvalidCommand, match="whole number"):
        ledger.resolve_point(position=True)
    with pytest.raises(InvalidCommand, match="not both"):
        ledger.resolve_point(as_of=us_to_iso(START_US), position=1)
    with pytest.raises(InvalidCommand, match="in the future"):
        ledger.resolve_point(as_of=us_to_iso(START_US + 3600 * SECOND))
    with pytest.raises(UnknownCCG):
        ledger.decision("99Z", SCHEME)


def test_a_decision_names_the_log_it_used(ledger: QPLedger) -> None:
    ledger.execute(population())
    ledger.execute(flag())
    first = ledger.decision("06F", SCHEME, position=2).document["log"]
    now = ledger.decision("06F", SCHEME).document["log"]
    assert first["tree_size"] == 2 and now["tree_size"] == 3
    assert first["root_hash"] != now["root_hash"]
    assert first == ledger.decision("06F", SCHEME, position=2).document["log"]


def test_facts_carry_the_events_they_came_from(ledger: QPLedger) -> None:
    receipt = ledger.execute(population())
    facts = ledger.facts("06F", SCHEME)
    assert facts.position == 2
    assert ledger.stream_version_at("06F", SCHEME, 1) == 1
    assert ledger.stream_version_at("06F", SCHEME, 0) == 0
    history = ledger.history("06F", SCHEME)
    assert history[-1]["id"] == receipt.event_id
    assert list(ledger.iter_history("06F", SCHEME, page=1)) == history
