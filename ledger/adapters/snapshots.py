"""The snapshot store: snapshots are a cache, so one that can't be read is skipped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, MapperDeserialisationError

log = logging.getLogger(__name__)


class SnapshotStore(EventStore[UUID]):
    """Snapshots are a cache of a record's state: one that can't be read is skipped.

    The record is then rebuilt from its events, which are the truth and which
    the proofs cover. A snapshot taken before a fix to the state's shape may
    not decode (version 1 kept flags keyed by the user's flag_id, and the ids
    ``_type_`` and ``_data_`` made it unreadable); it must not make the CCG's
    record unreadable with it. The next snapshot taken replaces it.
    """

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        stored = self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        for snapshot in stored:
            try:
                yield self.mapper.to_domain_event(snapshot)
            except MapperDeserialisationError as e:
                log.warning("snapshot skipped, the record is rebuilt from its events: %s", e)
