"""Following the ledger's log: which events the read models use, and how they arrive.

The read models are about CCG records only, so they subscribe to the topics
of ``CCGPremiumRecord``'s events; the determinations stream shares the log
but is filtered out in the database query, not in Python.

``eventsourcing-sqlalchemy`` subscribes with LISTEN/NOTIFY on PostgreSQL and
has no subscription on SQLite. ``FollowedLedgerRecorder`` adds one -- the
library's own pull loop, woken by a timer instead of a notification -- and on
PostgreSQL wakes the pull loop as soon as a NOTIFY arrives. It is installed by
opening the ledger with this module's ``Factory`` (same tables, same mapper),
so nothing in ``ledger.store`` changes.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    Subscription,
)
from eventsourcing.utils import get_topic
from eventsourcing_sqlalchemy.recorders import SQLAlchemySubscription

from ledger.adapters.recorder import Factory as LedgerFactory
from ledger.adapters.recorder import LedgerRecorder
from ledger.domain.record import EVENT_TYPES, CCGPremiumRecord
from ledger.service.application import QPLedger

#: The stored topics of every event of a CCG's record (and nothing else).
RECORD_TOPICS: tuple[str, ...] = tuple(
    sorted(get_topic(getattr(CCGPremiumRecord, name)) for name in EVENT_TYPES)
)
#: How often SQLite is polled for new events (seconds).
DEFAULT_POLL_INTERVAL = 0.1


class PollingSubscription(ListenNotifySubscription[ApplicationRecorder]):
    """The library's pull loop, woken every ``interval`` seconds (SQLite has no NOTIFY)."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self._interval = interval
        self._stopping = threading.Event()
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stopping.wait(self._interval):
            self._has_been_notified.set()

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._ticker.join()


class PromptSubscription(SQLAlchemySubscription):
    """The library's LISTEN/NOTIFY subscription, woken as soon as a NOTIFY arrives.

    ``SQLAlchemySubscription._listen`` sleeps 100 ms after every quiet 100 ms
    ``select()``, so a notification can wait up to 100 ms before the pull loop
    hears of it; here the listener blocks in ``select()`` instead (waking every
    250 ms only to notice a stop). Other drivers keep the library's loop.

    It also closes the library's start-up gap: the pull thread's first SELECT
    and the listener's LISTEN race, so events committed between them were
    missed until some later write's NOTIFY (a projector idle after the last
    write never caught up). Pulling once after LISTEN closes it.
    """

    def _listen(self) -> None:
        engine = self._recorder.datastore.engine
        if engine is None or engine.dialect.driver != "psycopg2":
            super()._listen()
            return
        try:
            with self._recorder.datastore.get_connection() as sa_conn:
                sa_conn.execution_options(isolation_level="AUTOCOMMIT")
                raw = sa_conn.connection
                cursor = raw.cursor()
                cursor.execute(f"LISTEN {self._recorder.channel_name};")
                # The pull loop's first SELECT ran before this LISTEN (both threads
                # start together): an event committed in between sent its NOTIFY to
                # nobody and would wait for the next write. Pull once more now.
                self._has_been_notified.set()
                while not self._has_been_stopped and not self._thread_error:
                    if select.select([raw], [], [], 0.25)[0]:
                        raw.poll()
                        if raw.notifies:
                            raw.notifies.clear()
                            self._has_been_notified.set()
        except BaseException as e:
            if self._thread_error is None:
                self._thread_error = e
            self.stop()


class FollowedLedgerRecorder(LedgerRecorder):
    """The ledger's recorder, able to subscribe on SQLite as well as PostgreSQL."""

    poll_interval = DEFAULT_POLL_INTERVAL

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        engine = self.datastore.engine
        if engine is not None and engine.dialect.name == "postgresql":
            subscription: Subscription[ApplicationRecorder] = PromptSubscription(
                recorder=self, gt=gt, topics=topics
            )
            return subscription
        return PollingSubscription(self, gt=gt, topics=topics, interval=self.poll_interval)


class Factory(LedgerFactory):
    """``PERSISTENCE_MODULE=ledger.projections.source`` selects this factory."""

    application_recorder_class = FollowedLedgerRecorder


def open_followed_ledger(database_url: str) -> QPLedger:
    """The ledger, opened so that ``recorder.subscribe()`` works on both backends."""
    return QPLedger(database_url, env={"PERSISTENCE_MODULE": "ledger.projections.source:Factory"})
