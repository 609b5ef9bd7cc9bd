"""Projectors: follow the log and keep each read model's active generation current.

The library's ``ProjectionRunner`` applies one event per transaction and
builds the application as ``application_class(env)``; a projector here
instead takes whatever the subscription has ready (up to ``batch_size``) and
applies it in one transaction (see ``view.py``), which is what lets a full
rebuild run at a useful fraction of the raw read speed. It uses the
library's pieces otherwise: ``ApplicationSubscription`` over the recorder's
``subscribe()`` (LISTEN/NOTIFY on PostgreSQL; polling on SQLite, see
``source.py``), ``Tracking`` objects, and a ``TrackingRecorder`` view.

When a batch finds the stored position is not the one it continued from --
another projector got there first, or a rebuild switched generations -- the
batch writes nothing and the projector resyncs: it re-reads the active
generation and its position and subscribes again from there.

If the projector is idle while the log holds events the read models use --
its subscription missed their wake-up (a NOTIFY lost with a connection, or
one sent before it listened) -- it subscribes again after ``STALL_TIMEOUT``,
which reads them from its position: a missed notification delays, never
stalls, a read model.

Positions only advance on events the read models use; when the projector is
idle and everything up to the log's head is of other kinds (issued
decisions, appeals), it records the head as its position, so ``lag`` reads 0
and ``min_position`` waits for any position finish.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import PersistenceError, Tracking
from eventsourcing.projection import ApplicationSubscription
from sqlalchemy.exc import DBAPIError, OperationalError

from ledger.projections.database import ReadModelDatabase
from ledger.projections.folding import DecisionFolder, DecisionMemo
from ledger.projections.projection import Item, ReadModelProjection
from ledger.projections.registry import ReadModel, read_model
from ledger.projections.source import RECORD_TOPICS
from ledger.projections.view import GenerationRetired, ReadModelView, TrackingConflict
from ledger.service.application import QPLedger

log = logging.getLogger("ledger.projections")

DEFAULT_BATCH_SIZE = 250
#: How long the projector waits for more events before it treats itself as idle.
IDLE_INTERVAL = 0.2
#: Database errors in a row before a projector gives up (it retries with backoff).
MAX_DB_FAILURES = 6
#: Seconds a projector stays idle while the log holds events it uses that its
#: subscription never delivered, before it subscribes again (a lost wake-up).
STALL_TIMEOUT = 5.0
_END = object()


class Resubscribe(TrackingConflict):
    """The subscription ended without being asked to: subscribe again."""


class SubscriptionFailed(Exception):
    """The log subscription raised (e.g. its LISTEN connection was dropped)."""


@dataclass
class ProjectorStats:
    batches: int = 0
    events: int = 0
    conflicts: int = 0


class Projector:
    """Keeps one read model's tables up to date from the log, exactly once."""

    def __init__(
        self,
        name: str,
        ledger: QPLedger,
        db: ReadModelDatabase,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        memo: DecisionMemo | None = None,
        building: int | None = None,
        idle_interval: float = IDLE_INTERVAL,
        turn: AbstractContextManager[Any] | None = None,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.spec: ReadModel = read_model(name)
        self.name = self.spec.name
        self.ledger = ledger
        self.db = db
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.stall_timeout = stall_timeout
        #: Since when (monotonic) events it uses have waited undelivered, if they have.
        self.stalled_since: float | None = None
        #: The generation a rebuild is filling (None: follow the active one).
        self.building = building
        self.folder = DecisionFolder(ledger, memo)
        #: Held while applying a batch; projectors sharing a SQLite file share one
        #: (see ProjectorGroup), so a batch's transaction never competes for the GIL.
        self.turn = turn if turn is not None else nullcontext()
        self.stats = ProjectorStats()
        self.view: ReadModelView
        self.projection: ReadModelProjection[Any]
        self.position = 0
        self.attach()

    def attach(self) -> None:
        """Bind to the generation to write (active, or the one being built) and its position."""
        generation = self.building
        if generation is None:
            generation = self.db.ensure(self.name, self.spec.define_tables, self.ledger.name)
        self.view = self.spec.view_class(self.db, generation, building=self.building is not None)
        self.projection = self.spec.projection_class(self.view, folder=self.folder)
        self.position = self.view.max_tracking_id(self.ledger.name) or 0

    # -- applying ---------------------------------------------------------------

    def apply(self, items: Sequence[Item]) -> None:
        """One batch, one transaction; raises TrackingConflict if someone else moved on."""
        with self.turn:
            self.projection.process_batch(items, previous=self.position)
        self.position = items[-1][1].notification_id
        self.stats.batches += 1
        self.stats.events += len(items)

    def advance_over_other_events(self) -> bool:
        """If nothing the read models use lies between our position and the head, track the head."""
        head = self.ledger.max_position()
        if head <= self.position:
            self.stalled_since = None
            return False
        pending = self.ledger.recorder.select_notifications(
            start=self.position, limit=1, stop=head, topics=RECORD_TOPICS, inclusive_of_start=False
        )
        if pending:
            if self.stalled_since is None:
                self.stalled_since = time.monotonic()
            return False
        self.stalled_since = None
        with self.view.batch(previous=self.position):
            self.view.insert_tracking(Tracking(self.ledger.name, head))
        self.position = head
        return True

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Apply everything up to the log's head now (no subscription); return the position."""
        recorder, mapper = self.ledger.recorder, self.ledger.mapper
        while True:
            notifications = recorder.select_notifications(
                start=self.position,
                limit=self.batch_size,
                topics=RECORD_TOPICS,
                inclusive_of_start=False,
            )
            try:
                if not notifications:
                    self.advance_over_other_events()
                    if progress:
                        progress(self.position)
                    return self.position
                self.apply(
                    [
                        (mapper.to_domain_event(n), Tracking(self.ledger.name, n.id))
                        for n in notifications
                    ]
                )
            except TrackingConflict as e:
                if isinstance(e, GenerationRetired) and self.building is not None:
                    raise  # a rebuild whose generation was overtaken stops
                self._resync()
            if progress:
                progress(self.position)

    def switch(self) -> None:
        """Make the generation being built the active one (raises NotCaughtUp if behind)."""
        assert self.building is not None, "only a rebuild switches generations"
        with self.view.batch(previous=self.position, switch=True):
            pass
        self.building = None

    def _resync(self) -> None:
        self.stats.conflicts += 1
        before = (self.view.generation, self.position)
        self.attach()
        log.info(
            "%s: resynced from generation %s position %s to generation %s position %s",
            self.name,
            *before,
            self.view.generation,
            self.position,
        )

    # -- following ------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Follow the log until ``stop`` is set; each batch commits or not at all.

        A lost race or a retired generation means resync and carry on; a
        database error means back off and reattach, and after MAX_DB_FAILURES in
        a row (no batch applied in between) the error is raised.
        """
        failures = 0
        reattach: Callable[[], None] | None = None
        while not stop.is_set():
            applied = self.stats.batches
            try:
                if reattach is not None:
                    reattach()
                    reattach = None
                self._follow(stop)
            except TrackingConflict as e:
                log.info("%s: %s", self.name, e)
                reattach = self._resync
            except (DBAPIError, OperationalError, PersistenceError, SubscriptionFailed) as e:
                failures = 1 if self.stats.batches > applied else failures + 1
                if failures >= MAX_DB_FAILURES:
                    raise
                delay = min(0.5 * 2**failures, 15.0)
                log.warning("%s: database error (%s); retrying in %.1fs", self.name, e, delay)
                if stop.wait(delay):
                    return
                reattach = self.attach

    def _follow(self, stop: threading.Event) -> None:
        inbox: queue.Queue[Any] = queue.Queue(maxsize=self.batch_size * 4)
        done = threading.Event()
        with ApplicationSubscription(
            self.ledger, gt=self.position or None, topics=RECORD_TOPICS
        ) as subscription:
            feeder = threading.Thread(
                target=_feed, args=(subscription, inbox, done), daemon=True, name="qp-feed"
            )
            feeder.start()
            try:
                while not stop.is_set():
                    items = self._take(inbox)
                    if items:
                        self.stalled_since = None
                        self.apply(items)
                    else:
                        self.advance_over_other_events()
                        self._check_stall()
            finally:
                done.set()
                subscription.stop()
                feeder.join()

    def _check_stall(self) -> None:
        since = self.stalled_since
        if since is not None and time.monotonic() - since >= self.stall_timeout:
            self.stalled_since = None
            log.warning(
                "%s: events after position %s were never delivered; subscribing again",
                self.name,
                self.position,
            )
            raise Resubscribe(f"{self.name}: undelivered events after position {self.position}")

    def _take(self, inbox: queue.Queue[Any]) -> list[Item]:
        """What is ready now, up to a batch; waits ``idle_interval`` for the first."""
        try:
            first = inbox.get(timeout=self.idle_interval)
        except queue.Empty:
            return []
        items: list[Item] = []
        for item in _drain(first, inbox, self.batch_size):
            if item is _END:
                raise Resubscribe(f"{self.name}: the log subscription ended")
            if isinstance(item, BaseException):
                raise SubscriptionFailed(f"{self.name}: {item!r}") from item
            items.append(item)
        return items


def _drain(first: Any, inbox: queue.Queue[Any], limit: int) -> Iterator[Any]:
    yield first
    for _ in range(limit - 1):
        try:
            yield inbox.get_nowait()
        except queue.Empty:
            return


def _feed(
    subscription: ApplicationSubscription[Any], inbox: queue.Queue[Any], done: threading.Event
) -> None:
    """Move events from the subscription to the projector's inbox (bounded, stoppable)."""

    def put(item: Any) -> bool:
        while not done.is_set():
            try:
                inbox.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in subscription:
            if not put(item):
                return
    except BaseException as e:  # surfaced in the projector's thread
        put(e)
        return
    put(_END)
