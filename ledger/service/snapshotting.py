"""Snapshots from the records in hand, not read back from the log (issue 12).

eventsourcing snapshots a record by reading it back from the log at the
snapshot's version (a snapshot and an events query) and storing it in a
transaction of its own. The ledger has that state in hand already: the
record it just saved, when it stands at the snapshot's version, or a copy
taken when a bulk import's record passed that version (:meth:`prepare_snapshot`)
-- the same events applied by the same code. Snapshots are taken at the same
versions as before; those of one save are stored in one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from functools import cached_property
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent, ProjectorFunction, project_aggregate

from ledger.domain.record import CCGPremiumRecord
from ledger.service.core import LedgerCore


class SnapshotsInHand(LedgerCore):
    """``take_snapshot`` from a record in hand when there is one at the version."""

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's snapshots (same versions); those of one save in one transaction."""
        self._snapshotting.saved = processing_event.aggregates
        self._snapshotting.taken = []
        try:
            super()._take_snapshots(processing_event)
            if self._snapshotting.taken and self.snapshots is not None:
                self.snapshots.put(self._snapshotting.taken)
        finally:
            self._snapshotting.saved = {}
            self._snapshotting.taken = []

    def take_snapshot(
        self,
        aggregate_id: UUID,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
    ) -> None:
        prepared = getattr(self._snapshotting, "prepared", {}).get((aggregate_id, version))
        if prepared is not None:
            self._snapshotting.taken.append(prepared)
            return
        saved = getattr(self._snapshotting, "saved", {}).get(aggregate_id)
        if saved is not None and version is not None and saved.version == version:
            snapshot_class = getattr(type(saved), "Snapshot", type(self).snapshot_class)
            if snapshot_class is not None:
                self._snapshotting.taken.append(snapshot_class.take(saved))
                return
        super().take_snapshot(aggregate_id, version, projector_func)

    @cached_property
    def _snapshotting(self) -> threading.local:
        return threading.local()

    def prepare_snapshot(self, record: CCGPremiumRecord, prepared: dict[Any, Any]) -> None:
        """If the record (changed, not yet saved) stands at a snapshot version, copy it now."""
        interval = (self.snapshotting_intervals or {}).get(type(record))
        if interval and record.version % interval == 0:
            snapshot_class = getattr(type(record), "Snapshot", type(self).snapshot_class)
            if snapshot_class is not None:
                # Deep: the record goes on changing with the batch's later lines.
                prepared[(record.id, record.version)] = deepcopy(snapshot_class.take(record))

    @contextmanager
    def prepared_snapshots(self, prepared: dict[Any, Any]) -> Iterator[None]:
        """While saving: snapshots copied by :meth:`prepare_snapshot` stand in for read-backs."""
        self._snapshotting.prepared = prepared
        try:
            yield
        finally:
            self._snapshotting.prepared = {}
