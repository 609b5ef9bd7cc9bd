"""The fold gives exactly the ledger's own replay (QPLedger.decision) after every event."""

from __future__ import annotations

import pytest

from ledger.projections import RECORD_TOPICS
from ledger.projections.folding import DecisionFolder, DecisionMemo
from tests.projections.projkit import SCHEME, Harness, demo


def record_events(h: Harness, after: int = 0) -> list[tuple[object, int]]:
    notifications = h.ledger.recorder.select_notifications(
        start=after, limit=100_000, topics=RECORD_TOPICS, inclusive_of_start=False
    )
    return [(h.ledger.mapper.to_domain_event(n), n.id) for n in notifications]


def test_decision_after_every_event_equals_the_ledgers_replay_at_its_position(
    harness: Harness,
) -> None:
    harness.load(demo(2))
    folder = DecisionFolder(harness.ledger)
    events = record_events(harness)
    folder.prepare(p for _, p in events)
    assert len(events) == harness.ledger.max_position() > 100
    for event, position in events:
        engine = folder.decision_after(event, position).document  # type: ignore[arg-type]
        ours = folder.finished(engine)  # plus what QPLedger.decision attaches, if anything
        theirs = harness.ledger.decision(ours["ccg"], SCHEME, position=position).document
        assert ours == theirs, position
        assert {k: v for k, v in theirs.items() if k in engine} == engine


def test_a_cold_folder_starting_mid_stream_loads_records_from_the_store(
    harness: Harness,
) -> None:
    # One CCG's stream is longer than the snapshot interval (50), so a cold
    # start after it loads the record from a snapshot plus events.
    harness.load(demo(1))
    events = record_events(harness)
    assert len(events) > 55
    start = events[55][1]
    folder = DecisionFolder(harness.ledger)
    tail = record_events(harness, after=start)
    folder.prepare(p for _, p in tail)
    for event, position in tail:
        ours = folder.finished(folder.decision_after(event, position).document)  # type: ignore[arg-type]
        assert ours == harness.ledger.decision(ours["ccg"], SCHEME, position=position).document


def test_the_memo_shares_decisions_and_a_stale_deferred_decision_refuses(
    sqlite_url: str,
) -> None:
    h = Harness(sqlite_url)
    try:
        h.load(demo(1)[:5])
        memo = DecisionMemo(capacity=2)
        first, second = DecisionFolder(h.ledger, memo), DecisionFolder(h.ledger, memo)
        events = record_events(h)
        (e1, p1), (e2, p2) = events[0], events[1]
        deferred = first.deferred(e1, p1)  # type: ignore[arg-type]
        replayed = h.ledger.decision("00C", SCHEME, position=p1).document
        assert first.finished(deferred.document) == replayed
        shared = second.decision_after(e1, p1)  # type: ignore[arg-type]
        assert shared.document is deferred.document  # computed once, shared by position
        stale = first.deferred(e2, p2)  # type: ignore[arg-type]
        first.fold(events[2][0], events[2][1])  # type: ignore[arg-type]
        with pytest.raises(LookupError, match="moved on"):
            _ = stale.document
    finally:
        h.close()


def test_the_topics_are_exactly_the_ccg_records_events() -> None:
    # 9, and the two that attribute an HCAI case to the record and end it (issue 14);
    # a case's own stream (ledger.cases:HCAICase) is none of the read models' business.
    assert len(RECORD_TOPICS) == 11
    assert all(t.startswith("ledger.domain:CCGPremiumRecord.") for t in RECORD_TOPICS)
    assert "ledger.domain:CCGPremiumRecord.Opened" in RECORD_TOPICS
