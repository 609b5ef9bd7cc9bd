"""Each record as this process last saved it: a write starts from it without reading the log.

eventsourcing's repository cache fast-forwards a cached aggregate on every
``get`` (one SELECT of the stream's newer events), because another process
may have written. A write does not need that read: it builds the next event
on the version it holds, and the store refuses it (unique stream version,
``IntegrityError``) if another writer got there first; the write is then
retried on state read from the log (``retry_on_conflict``, and ``forget``
drops the entry here). So nothing stale can be stored, and the log is read
only when it has moved.

A command refused on a held record is judged again on the log's state
before the refusal stands (ledger/service/application.py), so a refusal never
rests on a version that was not the latest either.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from copy import deepcopy
from uuid import UUID

from ledger.domain.record import CCGPremiumRecord


class CurrentRecords:
    """A bounded LRU of saved records; ``get`` hands out a copy to change."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._records: OrderedDict[UUID, CCGPremiumRecord] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, oid: UUID) -> CCGPremiumRecord | None:
        with self._guard:
            record = self._records.get(oid)
            if record is None:
                return None
            self._records.move_to_end(oid)
        # Held records are never changed in place (put() takes ownership), so
        # copying outside the guard is safe; the copy may be changed and dropped.
        return deepcopy(record)

    def put(self, oid: UUID, record: CCGPremiumRecord) -> None:
        """Hold a record just saved; the caller must not change it afterwards."""
        if record.pending_events:
            raise ValueError("only a saved record (no pending events) can be held")
        with self._guard:
            self._records[oid] = record
            self._records.move_to_end(oid)
            while len(self._records) > self.maxsize:
                self._records.popitem(last=False)

    def drop(self, oid: UUID) -> None:
        with self._guard:
            self._records.pop(oid, None)
