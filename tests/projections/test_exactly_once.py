"""Exactly once: a batch whose starting position was taken by someone else writes nothing.

These run in one process (threads and interleaved calls); ``test_faults.py``
does the same with real processes, SIGKILL and two projectors racing.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from sqlalchemy import select

from ledger.projections import RECORD_TOPICS
from ledger.projections.decisions import DecisionsView
from ledger.projections.runner import Projector
from ledger.projections.view import TrackingConflict
from tests.projections.projkit import Harness, demo


def record_event_count(h: Harness) -> int:
    return len(
        h.ledger.recorder.select_notifications(start=None, limit=100_000, topics=RECORD_TOPICS)
    )


def stored(h: Harness, name: str) -> tuple[int, int]:
    t = h.db.tracking
    with h.db.read() as conn:
        position, applied = conn.execute(
            select(t.c.notification_id, t.c.events_applied).where(t.c.projection == name)
        ).one()
    return int(position), int(applied)


def test_a_batch_that_lost_the_race_writes_nothing(harness: Harness) -> None:
    harness.load(demo(2))
    first = Projector("decisions", harness.ledger, harness.db, batch_size=40)
    second = Projector("decisions", harness.ledger, harness.db, batch_size=40)
    notifications = harness.ledger.recorder.select_notifications(
        start=None, limit=40, topics=RECORD_TOPICS
    )
    items = [
        (harness.ledger.mapper.to_domain_event(n), Tracking(harness.ledger.name, n.id))
        for n in notifications
    ]
    first.apply(items)
    assert stored(harness, "decisions") == (items[-1][1].notification_id, 40)
    with pytest.raises(TrackingConflict, match="another projector"):
        second.apply(items)  # second still believes the position is 0
    assert stored(harness, "decisions") == (items[-1][1].notification_id, 40)
    second.catch_up()  # resyncs, then carries on from where first stopped
    assert second.stats.conflicts == 1
    assert first.stats.events + second.stats.events == record_event_count(harness)
    assert harness.check(names=["decisions"]).clean


def test_two_projectors_racing_in_threads_apply_each_event_once(harness: Harness) -> None:
    harness.load(demo(3))
    projectors = [
        Projector(name, harness.ledger, harness.db, batch_size=25)
        for name in ("decisions", "summaries")
        for _ in range(2)
    ]
    for p in projectors:  # hold each batch's locks a while, so the racers collide
        p.view.fault_delay = 0.01
    barrier = threading.Barrier(len(projectors))
    errors: list[BaseException] = []

    def run(p: Projector) -> None:
        try:
            barrier.wait()
            p.catch_up()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in projectors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = record_event_count(harness)
    for name in ("decisions", "summaries"):
        mine = [p for p in projectors if p.name == name]
        assert sum(p.stats.events for p in mine) == total, name
        assert stored(harness, name)[1] == total
    assert sum(p.stats.conflicts for p in projectors) >= 1
    assert harness.check(names=["decisions", "summaries"]).clean


def test_an_error_inside_the_batch_transaction_leaves_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.load(demo(1))
    harness.project(batch_size=30)
    head = harness.ledger.max_position()
    harness.load(c for c in demo(2) if c["ccg"] != "00C")
    real_write = DecisionsView.write

    def write_then_fail(self: DecisionsView, conn: Any, writes: Any) -> None:
        real_write(self, conn, writes)  # every row written ...
        raise RuntimeError("power cut")  # ... and then the transaction dies

    monkeypatch.setattr(DecisionsView, "write", write_then_fail)
    with pytest.raises(RuntimeError, match="power cut"):
        Projector("decisions", harness.ledger, harness.db).catch_up()
    assert stored(harness, "decisions")[0] == head
    assert harness.read.decisions(page_size=10).total == 1  # the second CCG never appeared
    monkeypatch.undo()
    harness.project()
    assert harness.check().clean


@pytest.mark.postgres
def test_the_librarys_check_then_update_would_apply_an_event_twice(postgres_url: str) -> None:
    """Why ``view.py`` locks: two transactions both pass the library's check and both commit."""
    from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
    from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder

    datastore = SQLAlchemyDatastore(url=postgres_url)
    recorder = SQLAlchemyTrackingRecorder(datastore, tracking_table_name="hazard_tracking")
    recorder.create_table()
    recorder.insert_tracking(Tracking("QPLedger", 4))
    checked = threading.Barrier(2)
    committed: list[int] = []

    def apply_event_5(worker: int) -> None:
        with recorder.transaction(commit=True) as session:
            recorder._insert_tracking(session, Tracking("QPLedger", 5))  # check passes
            checked.wait()  # both have checked before either commits
        committed.append(worker)

    threads = [threading.Thread(target=apply_event_5, args=(w,)) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(committed) == [1, 2]  # event 5 "applied" twice
    datastore.engine.dispose()  # type: ignore[union-attr]


def test_our_view_refuses_the_same_interleaving(harness: Harness) -> None:
    harness.load(demo(1)[:3])
    Projector("decisions", harness.ledger, harness.db)  # sets up generation 1
    generation = Projector("decisions", harness.ledger, harness.db).view.generation
    views = [DecisionsView(harness.db, generation) for _ in range(2)]
    views[0].fault_delay = 0.3  # holds its locks while the other arrives
    outcomes: list[str] = []
    started = threading.Event()

    def apply(view: DecisionsView, delay: float) -> None:
        if delay:
            started.wait()
        else:
            started.set()
        try:
            with view.batch(previous=0):
                view.insert_tracking(Tracking("QPLedger", 1))
            outcomes.append("committed")
        except TrackingConflict:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=apply, args=(views[0], 0.0)),
        threading.Thread(target=apply, args=(views[1], 0.05)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["committed", "refused"]
    assert stored(harness, "decisions") == (1, 0)
