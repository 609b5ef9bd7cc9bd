"""The Merkle log wired into the event store: one mixin for ``LedgerRecorder``.

The whole change to ledger/adapters/recorder.py (see docs/integrity.md)::

    class LedgerRecorder(IntegrityRecorderMixin, SQLAlchemyApplicationRecorder):
        ...
        session.execute(self.index.insert(), rows)
        self._record_integrity(session, stored_events, rows)

The tables are in :mod:`ledger.integrity.tables`, the write path and the
proofs in :mod:`ledger.integrity.log`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Table
from sqlalchemy.orm import Session

from ledger.integrity.log import IntegrityLog, TreeHead


class IntegrityRecorderMixin:
    """Put first in ``LedgerRecorder``'s bases; call :meth:`_record_integrity` after the index.

    Adds the two integrity tables to the recorder (created with the others)
    and exposes the log as ``self.integrity``.
    """

    integrity: IntegrityLog
    tables: list[Table]
    events_record_cls: Any
    index: Table  # LedgerRecorder's recorded-time index

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.integrity = IntegrityLog(self.events_record_cls.__table__)
        self.tables += self.integrity.tables

    def _record_integrity(
        self,
        session: Session,
        stored_events: Sequence[StoredEvent],
        index_rows: Sequence[Mapping[str, Any]],
    ) -> TreeHead:
        """Hash the events just inserted into the log, in their transaction.

        ``index_rows`` are the recorded-time index rows written for them, one
        per event in order (``position`` and ``recorded_us`` are used).
        """
        positions = [int(row["position"]) for row in index_rows]
        recorded_us = [int(row["recorded_us"]) for row in index_rows]
        return self.integrity.append(session, stored_events, positions, recorded_us)
