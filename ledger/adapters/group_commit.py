"""Group commit on PostgreSQL: concurrent writes of one process share one transaction.

Every append takes the events table's exclusive lock and pays its own
COMMIT (a WAL flush), so concurrent requests in a process (gunicorn
threads) queue on the lock and on the disk one by one. Here a write joins a
queue instead; one of the waiting threads leads: it opens one transaction
and runs each queued write's own statements in it, in queue order -- the
same ``_insert_stored_events`` the write would run alone, so each read under
the lock sees the rows of the writes before it (positions, recorded time,
Merkle state are threaded through the database, not copied) -- then
commits once. While it does, the next writes queue up behind it.

Exactness (docs/storage.md, "Group commit"):

- A write whose read finds its stream moved on takes no position and
  writes nothing (ledger/adapters/pg_write.py); it gets that
  ``IntegrityError``, the one it gets alone, and the others go on. (The
  leader counts the statements each write sends: an ``IntegrityError``
  after more than its read counts as a failure, below.)
- Anything else failing before the COMMIT (a key taken, a lost connection,
  any error) rolls the whole transaction back, and every write in it is run
  again alone, on the ordinary path, in its own thread: one bad write never
  fails or stores another.
- A failure of the COMMIT itself leaves the outcome unknown, as it does for
  a write alone: each write gets that error and is not run again (a keyed
  retry finds it stored or not).
- Nothing is acknowledged before the shared COMMIT has returned.

A write alone in the queue takes the ordinary path itself: one client sees
no change but a mutex.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, StoredEvent
from sqlalchemy import event
from sqlalchemy.orm import Session

#: Most writes one transaction carries (its lock is held for all of them).
MAX_BATCH = 32


class BatchableRecorder(Protocol):
    """What the leader needs of :class:`ledger.adapters.recorder.LedgerRecorder`."""

    #: Per thread, ``recorded``: the recorded time of each position its last write took.
    _written: threading.local

    def transaction(self, commit: bool = True) -> Any: ...

    def _insert_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Any: ...

    def _insert_stored_events(
        self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]: ...


@dataclass(eq=False)
class _Write:
    stored_events: Sequence[StoredEvent]
    kwargs: dict[str, Any]
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    alone: bool = False
    positions: Sequence[int] | None = None
    recorded: dict[int, int] = field(default_factory=dict)
    error: BaseException | None = None


@dataclass
class GroupStats:
    """Counts since start, for benchmarks and tests: shared transactions and their writes."""

    batches: int = 0
    grouped_writes: int = 0
    largest: int = 0
    failed: int = 0


class GroupCommit:
    """One process's queue of writes and whichever thread currently leads it."""

    def __init__(self, recorder: BatchableRecorder, max_batch: int = MAX_BATCH) -> None:
        self.recorder = recorder
        self.max_batch = max_batch
        self.stats = GroupStats()
        self._mutex = threading.Lock()
        self._queue: list[_Write] = []
        self._leading = False

    def waiting(self) -> int:
        """Writes queued behind the current leader."""
        with self._mutex:
            return len(self._queue)

    def leading(self) -> bool:
        with self._mutex:
            return self._leading

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        kwargs: dict[str, Any],
        alone: Callable[[], Sequence[int] | None],
    ) -> Sequence[int] | None:
        """Store the events in the next shared transaction; ``alone`` is the ordinary path."""
        write = _Write(stored_events, kwargs)
        with self._mutex:
            self._queue.append(write)
            lead = write.lead = not self._leading
            self._leading = True
        if not lead:
            write.ready.wait()
        if write.lead:
            self._lead(alone)
        if write.alone:
            return alone()
        if write.error is not None:
            # One exception object raised in several threads would share a traceback.
            raise write.error if write.lead else copy.copy(write.error)
        # The receipt's recorded time, where the receipt is made (this thread).
        self.recorder._written.recorded = write.recorded
        return write.positions

    def _lead(self, alone: Callable[[], Sequence[int] | None]) -> None:
        with self._mutex:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        try:
            if len(batch) == 1:
                # Alone: the ordinary path, still leading, so others queue meanwhile.
                self._alone(batch[0], alone)
            else:
                self._together(batch)
        finally:
            with self._mutex:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].ready.set()
                else:
                    self._leading = False
            for write in batch:
                write.ready.set()

    def _alone(self, write: _Write, alone: Callable[[], Sequence[int] | None]) -> None:
        try:
            write.positions = alone()
        except BaseException as e:
            write.error = e
        write.recorded = dict(getattr(self.recorder._written, "recorded", {}))

    def _together(self, batch: list[_Write]) -> None:
        recorder = self.recorder
        committing = False
        sent = _Statements()
        try:
            with recorder.transaction(commit=True) as session:
                conn = session.connection()
                event.listen(conn, "before_cursor_execute", sent.count)
                try:
                    for write in batch:
                        before = sent.n
                        try:
                            recorder._insert_events(session, write.stored_events, **write.kwargs)
                            write.positions = recorder._insert_stored_events(
                                session, write.stored_events, **write.kwargs
                            )
                        except IntegrityError as e:
                            # Raised after its read alone: the read found a stream
                            # moved on, so the write took no position and wrote
                            # nothing, as alone. Raised later, it may have written
                            # rows: then the whole batch rolls back (below).
                            if sent.n - before > 1 or _failed(session):
                                raise
                            write.error = e
                            continue
                        write.recorded = dict(recorder._written.recorded)
                finally:
                    event.remove(conn, "before_cursor_execute", sent.count)
                committing = True
        except BaseException as e:
            self.stats.failed += 1
            for write in batch:
                if committing:
                    write.error = e  # the COMMIT's outcome is unknown: never run twice
                else:
                    write.alone, write.error, write.positions = True, None, None
            if not isinstance(e, Exception):
                raise
        self.stats.batches += 1
        self.stats.grouped_writes += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))


class _Statements:
    """Counts the statements a connection sends."""

    def __init__(self) -> None:
        self.n = 0

    def count(self, *args: Any) -> None:
        self.n += 1


#: libpq's PQTRANS_INERROR (psycopg2's ``TRANSACTION_STATUS_INERROR``): a statement failed.
_IN_ERROR = 3


def _failed(session: Session) -> bool:
    """Whether a statement of the transaction failed (the driver's own state: no round trip)."""
    raw = session.connection().connection.dbapi_connection
    status = getattr(raw, "get_transaction_status", None)
    return status is None or status() == _IN_ERROR
