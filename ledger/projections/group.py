"""Several projectors at once: one pass over the log for a rebuild, threads for ``project``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from eventsourcing.persistence import Tracking

from ledger.projections.database import ReadModelDatabase
from ledger.projections.folding import DecisionMemo
from ledger.projections.runner import DEFAULT_BATCH_SIZE, Projector, log
from ledger.projections.source import RECORD_TOPICS
from ledger.projections.view import GenerationRetired, TrackingConflict
from ledger.service.application import QPLedger


def catch_up_together(
    projectors: Sequence[Projector], progress: Callable[[int], None] | None = None
) -> None:
    """Catch several projectors up reading the log once (they share decisions via a memo).

    Used by a rebuild of several read models: each page of events is read and
    decoded once and applied by every projector still behind it, so the engine
    runs once per event however many read models are being built.
    """
    if not projectors:
        return
    ledger = projectors[0].ledger
    size = max(p.batch_size for p in projectors)
    while True:
        start = min(p.position for p in projectors)
        notifications = ledger.recorder.select_notifications(
            start=start, limit=size, topics=RECORD_TOPICS, inclusive_of_start=False
        )
        if not notifications:
            break
        items = [
            (ledger.mapper.to_domain_event(n), Tracking(ledger.name, n.id)) for n in notifications
        ]
        for projector in projectors:
            behind = [item for item in items if item[1].notification_id > projector.position]
            if not behind:
                continue
            try:
                projector.apply(behind)
            except GenerationRetired:
                if projector.building is not None:
                    raise
                projector._resync()
            except TrackingConflict:
                projector._resync()
        if progress:
            progress(min(p.position for p in projectors))
    for projector in projectors:
        projector.catch_up(progress)


class ProjectorGroup:
    """Several projectors in one process, sharing the ledger and computed decisions."""

    def __init__(
        self,
        ledger: QPLedger,
        db: ReadModelDatabase,
        names: Sequence[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        memo = DecisionMemo()
        self.stop_event = threading.Event()
        # On SQLite the projectors take turns: a thread holding the database's one
        # write lock would otherwise share the GIL with the others' decision
        # computing, and hold the lock (and the API's writers) three times as long.
        turn = threading.Lock() if db.dialect == "sqlite" else None
        self.projectors = [
            Projector(n, ledger, db, batch_size=batch_size, memo=memo, turn=turn) for n in names
        ]
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def catch_up(self) -> dict[str, int]:
        """Apply everything up to the head now, reading the log once for all."""
        catch_up_together(self.projectors)
        return self.positions()

    def start(self) -> None:
        for projector in self.projectors:
            thread = threading.Thread(
                target=self._run, args=(projector,), name=f"qp-project-{projector.name}"
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, projector: Projector) -> None:
        try:
            projector.run(self.stop_event)
        except BaseException as e:
            log.exception("%s: projector stopped by an error", projector.name)
            self.errors.append(e)
            self.stop_event.set()

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)

    def positions(self) -> dict[str, int]:
        return {p.name: p.position for p in self.projectors}
