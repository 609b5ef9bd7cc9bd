"""An event committed while a PostgreSQL subscription is starting is not missed.

The library starts the pull thread (first SELECT) and the LISTEN thread
together; a write landing between the SELECT and the LISTEN sends its NOTIFY
to nobody. CI once caught a live projector stuck behind such a write, idle
for good because no later write came. Here the LISTEN is held back until the
first pull has run and a write has landed, which makes that gap certain.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from ledger.projections import source
from ledger.projections.runner import Projector
from ledger.projections.source import RECORD_TOPICS, PromptSubscription
from tests.projections.projkit import Harness, demo


class LateListener(PromptSubscription):
    """A subscription whose LISTEN waits for ``gate``; ``pulled`` is set after the first pull."""

    def __init__(self, *args: Any, gate: threading.Event, **kwargs: Any) -> None:
        self.gate = gate
        self.pulled = threading.Event()
        super().__init__(*args, **kwargs)

    def _pull(self) -> None:
        super()._pull()
        self.pulled.set()

    def _listen(self) -> None:
        self.gate.wait()
        super()._listen()


def test_a_write_between_the_first_pull_and_listen_is_delivered(pg_harness: Harness) -> None:
    commands = demo(1)
    first = pg_harness.load(commands[:5])
    gate = threading.Event()
    received: queue.Queue[int] = queue.Queue()
    subscription = LateListener(
        pg_harness.ledger.recorder, gt=first, topics=RECORD_TOPICS, gate=gate
    )

    def consume() -> None:
        for notification in subscription:
            received.put(notification.id)

    consumer = threading.Thread(target=consume)
    with subscription:
        consumer.start()
        assert subscription.pulled.wait(30), "the first pull never ran"
        last = pg_harness.load(commands[5:6])  # lands after the first SELECT, before LISTEN
        gate.set()
        try:
            got = received.get(timeout=30)
        except queue.Empty:
            got = None
        subscription.stop()
    consumer.join(30)
    assert got == last, f"the event at position {last} was never delivered"


class Deaf(PromptSubscription):
    """A subscription that never hears a NOTIFY (as if each was lost)."""

    def _listen(self) -> None:
        while not self._has_been_stopped:
            time.sleep(0.05)


def test_a_projector_whose_wake_ups_are_lost_still_catches_up(
    pg_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "PromptSubscription", Deaf)
    commands = demo(1)
    pg_harness.load(commands[:5])
    projector = Projector("decisions", pg_harness.ledger, pg_harness.db, stall_timeout=0.5)
    stop = threading.Event()
    runner = threading.Thread(target=projector.run, args=(stop,))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while projector.position < pg_harness.ledger.max_position():
            assert time.monotonic() < deadline, "the first pull never ran"
            time.sleep(0.05)
        head = pg_harness.load(commands[5:12])  # no NOTIFY is ever heard for these
        while projector.position < head and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        runner.join(30)
    assert projector.position == head
    assert projector.stats.conflicts >= 1  # it subscribed again
