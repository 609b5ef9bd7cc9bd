"""The one retry-on-conflict helper every write in the service goes through."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.domain.errors import ConcurrencyConflict, RuleViolation
from ledger.service import retry
from ledger.service.application import QPLedger
from ledger.service.retry import MAX_WRITE_ATTEMPTS, retry_on_conflict

from .kit import SCHEME, population


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pauses: list[int] = []
    monkeypatch.setattr(retry, "pause", pauses.append)
    return pauses


def test_a_lost_race_is_tried_again_on_fresh_state(no_pause: list[int]) -> None:
    tries: list[int] = []
    cleaned: list[int] = []

    def attempt() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise IntegrityError("another writer got in first")
        return "stored"

    result = retry_on_conflict(attempt, after_conflict=lambda: cleaned.append(1), gave_up="no")
    assert (result, len(tries), len(cleaned), no_pause) == ("stored", 3, 2, [0, 1])


def test_twenty_lost_races_are_a_conflict(no_pause: list[int]) -> None:
    def attempt() -> None:
        raise IntegrityError("again")

    with pytest.raises(ConcurrencyConflict) as caught:
        retry_on_conflict(attempt, after_conflict=lambda: None, gave_up="too many writers")
    assert caught.value.message == "too many writers"
    assert len(no_pause) == MAX_WRITE_ATTEMPTS == 20


def test_a_refusal_is_not_retried(no_pause: list[int]) -> None:
    def attempt() -> None:
        raise RuleViolation("no")

    with pytest.raises(RuleViolation):
        retry_on_conflict(attempt, after_conflict=lambda: None, gave_up="x")
    assert no_pause == []


def test_a_conditional_write_that_lost_a_race_is_refused(
    ledger: QPLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.execute(population())
    real_save = ledger.save
    calls: list[int] = []

    def racing_save(*objs: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("another process wrote version 3")
        return real_save(*objs, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ledger, "save", racing_save)
    with pytest.raises(ConcurrencyConflict, match="moved on"):
        ledger.execute(population(size=1), expected_version=2)
    # Without If-Match the same race is retried and the write stored.
    calls.clear()
    assert ledger.execute(population(size=1)).version == 3
    assert len(calls) == 2
    assert ledger.stream_version("06F", SCHEME) == 3
