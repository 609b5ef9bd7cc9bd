"""The snapshot store: snapshots are a cache, so one that can't be read or trusted is skipped."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    AggregateRecorder,
    EventStore,
    Mapper,
    MapperDeserialisationError,
    Recording,
    StoredEvent,
)

from ledger.adapters.snapshot_auth import MacStore, SnapshotKey, snapshot_key_file
from ledger.integrity.audit_tables import Decode, OwnedTables

log = logging.getLogger(__name__)


class SnapshotStore(EventStore[UUID]):
    """Snapshots are a cache of a record's state: one that can't be read or trusted is skipped.

    The record is then rebuilt from its events, which are the truth and which
    the proofs cover. A snapshot taken before a fix to the state's shape may
    not decode (version 1 kept flags keyed by the user's flag_id, and the ids
    ``_type_`` and ``_data_`` made it unreadable); it must not make the CCG's
    record unreadable with it. A snapshot edited in the database must not be
    served: each is written with an HMAC whose key is outside the database
    (ledger/adapters/snapshot_auth.py) and used only if the code matches.
    The next snapshot taken replaces one skipped.
    """

    def __init__(self, mapper: Mapper[UUID], recorder: AggregateRecorder) -> None:
        super().__init__(mapper=mapper, recorder=recorder)
        datastore = getattr(recorder, "datastore", None)
        url = getattr(getattr(datastore, "engine", None), "url", None)
        path = None if url is None else snapshot_key_file(url.render_as_string(hide_password=False))
        self.macs = MacStore(recorder, SnapshotKey(path))

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        key = self.macs.key.get(create=True)
        if key is None:
            log.error("snapshot not written: no snapshot key (see %s)", self.macs.key.path)
            return []
        self.macs.insert([self.mapper.to_stored_event(e) for e in domain_events], key)
        return []

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
            refused = self.macs.authentic(snapshot)
            if refused is not None:
                log.error(
                    "SNAPSHOT REJECTED: %s row (originator_id=%s, originator_version=%s): %s; "
                    "the record is rebuilt from its events. Run `qp-ledger verify`.",
                    getattr(self.recorder, "events_table_name", "snapshots"),
                    snapshot.originator_id,
                    snapshot.originator_version,
                    refused,
                )
                continue
            try:
                yield self.mapper.to_domain_event(snapshot)
            except MapperDeserialisationError as e:
                log.warning("snapshot skipped, the record is rebuilt from its events: %s", e)


def audit_inputs(
    store: Any, snapshots: Any, mapper: Mapper[UUID]
) -> tuple[OwnedTables, Decode, bytes | None]:
    """What ``qp-ledger verify`` needs to check the tables beside the Merkle log.

    The snapshot key (which also authenticates the idempotency rows' key
    codes) is read only if its file exists (verifying never creates one).
    """
    snapshot_table = None
    macs = None
    if isinstance(snapshots, SnapshotStore) and snapshots.macs.table is not None:
        snapshot_table = snapshots.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        macs = snapshots.macs.table
    owned = OwnedTables(
        events=store.events_record_cls.__table__,
        index=store.index,
        idempotency=store.idempotency,
        snapshots=snapshot_table,
        macs=macs,
        key_codes=getattr(store, "key_codes", None) and store.key_codes.table,
        key_codes_since=getattr(store, "key_codes", None) and store.key_codes.since_table,
        index_codes=getattr(store, "index_codes", None) and store.index_codes.table,
        index_codes_since=getattr(store, "index_codes", None) and store.index_codes.since_table,
    )

    def decode(originator_id: Any, version: int, topic: str, state: bytes) -> Any:
        oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        return mapper.to_domain_event(StoredEvent(oid, version, topic, state))

    key = snapshots.macs.key.get() if isinstance(snapshots, SnapshotStore) else None
    if key is None and getattr(store, "key_codes", None) is not None:
        key = store.key_codes.key.get()  # the same file; its own key for a database in memory
    return owned, decode, key
