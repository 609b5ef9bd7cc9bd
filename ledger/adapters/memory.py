"""The ledger's store in memory: eventsourcing's POPO recorder plus the ledger's index.

``QPLedger("memory:")`` (or ``env={"PERSISTENCE_MODULE": "ledger.adapters.memory:Factory"}``)
runs the whole application service with no database, so the service's own
behaviour (validation, idempotency, receipts, replay at a position or a
time, issue and appeal) can be unit-tested in milliseconds.

It keeps, under the POPO recorder's lock, what the SQL recorder writes in the
event's transaction (ledger/adapters/recorder.py): one recorded time per
position (strictly increasing), each stream's versions by position, the
idempotency rows, and the Merkle tree's root at every size, hashed from the
same canonical leaves (ledger/integrity/leaf.py) so a decision names the same
kind of tree head. Nothing else of the integrity log is kept: no stored nodes
or proofs, no checkpoints, no bundles, and no read models — those need SQL.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from ledger.adapters.recorder import now_us
from ledger.adapters.sealing import sealed_rows, unsealed
from ledger.integrity.leaf import encode_leaf, stream_text
from ledger.integrity.merkle import EMPTY_ROOT, CompactRange, leaf_hash

#: ``QPLedger(database_url=MEMORY_URL)`` selects this store.
MEMORY_URL = "memory:"


class MemoryLedgerRecorder(POPOApplicationRecorder):
    """The in-memory :class:`ledger.adapters.port.LedgerStore`."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = now_us
        self._recorded: list[int] = []  # by position - 1
        self._stream_positions: dict[str, list[int]] = defaultdict(list)
        self._stream_versions: dict[str, list[int]] = defaultdict(list)
        self._located: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
        self._keyed: dict[tuple[str, str], dict[str, Any]] = {}
        self._sealed: dict[tuple[str, int, str], dict[str, Any]] = {}
        self._edge = CompactRange()
        self._roots = [EMPTY_ROOT]  # by tree size
        self._chain: dict[str, bytes] = {}  # each stream's last leaf hash
        self._written = threading.local()

    # -- writing (under the POPO recorder's lock) ----------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Keep the events without their sealed words; the words go to their own table."""
        kwargs["sealed"] = sealed_rows(stored_events)
        return super().insert_events([unsealed(e) for e in stored_events], **kwargs)

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        erase = kwargs.get("erase")
        if erase is not None and _sealed_key(erase) not in self._sealed:
            raise IntegrityError(f"the {erase['field']} of event {erase['event_id']} is not stored")
        retry = kwargs.get("idempotency")
        if retry is not None and (retry["actor"], retry["key"]) in self._keyed:
            raise IntegrityError(f"Idempotency-Key {retry['key']!r} is already stored")

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._update_table(stored_events, **kwargs) or []
        clock = max(self.clock(), (self._recorded[-1] if self._recorded else 0) + 1)
        written = {}
        for offset, (position, stored) in enumerate(zip(positions, stored_events, strict=True)):
            recorded = clock + offset
            stream = stream_text(stored.originator_id)
            version = stored.originator_version
            self._recorded.append(recorded)
            self._stream_positions[stream].append(position)
            self._stream_versions[stream].append(version)
            self._located[stream][version] = (position, recorded)
            leaf = leaf_hash(
                encode_leaf(
                    position,
                    stream,
                    version,
                    stored.topic,
                    recorded,
                    self._chain.get(stream, b""),
                    stored.state,
                )
            )
            self._chain[stream] = leaf
            self._edge.append(leaf)
            self._roots.append(self._edge.root())
            written[position] = recorded
        self._written.recorded = written
        retry = kwargs.get("idempotency")
        if retry is not None and positions:
            self._keyed[(retry["actor"], retry["key"])] = {
                **retry,
                "version": stored_events[-1].originator_version,
                "position": positions[-1],
                "recorded_us": written[positions[-1]],
            }
        for row in kwargs.get("sealed", ()):
            self._sealed[_sealed_key(row)] = row
        erase = kwargs.get("erase")
        if erase is not None:
            del self._sealed[_sealed_key(erase)]
        return positions

    # -- reads ---------------------------------------------------------------------

    def recorded_us_written(self, position: int) -> int | None:
        recorded: dict[int, int] = getattr(self._written, "recorded", {})
        return recorded.get(position)

    def head(self) -> int:
        with self._database_lock:
            return len(self._recorded)

    def recorded_us(self, position: int) -> int | None:
        with self._database_lock:
            last = min(position, len(self._recorded))
            return self._recorded[last - 1] if last >= 1 else None

    def position_at(self, recorded_us: int) -> int:
        with self._database_lock:
            # Positions are 1, 2, 3, ... here (no sequence gaps) and times increase.
            return bisect.bisect_right(self._recorded, recorded_us)

    def stream_version_at(self, originator_id: str, position: int) -> int | None:
        with self._database_lock:
            found = bisect.bisect_right(self._stream_positions[originator_id], position)
            return self._stream_versions[originator_id][found - 1] if found else None

    def locate(self, originator_id: str, versions: list[int]) -> dict[int, tuple[int, int]]:
        with self._database_lock:
            located = self._located[originator_id]
            return {v: located[v] for v in versions if v in located}

    def originator_at(self, position: int) -> str | None:
        with self._database_lock:
            if not 1 <= position <= len(self._stored_events):
                return None
            return str(self._stored_events[position - 1].originator_id)

    def log_head_at(self, position: int) -> tuple[int, bytes]:
        with self._database_lock:
            size = max(0, min(position, len(self._recorded)))
            return size, self._roots[size]

    def idempotent_write(self, actor: str, key: str) -> Mapping[str, Any] | None:
        with self._database_lock:
            return self._keyed.get((actor, key))

    def sealed_texts(self, originator_id: str, first: int, last: int) -> dict[tuple[int, str], str]:
        with self._database_lock:
            return {
                (v, f): row["text"]
                for (oid, v, f), row in self._sealed.items()
                if oid == originator_id and first <= v <= last
            }

    def sealed_field(self, event_id: str, field: str) -> Mapping[str, Any] | None:
        with self._database_lock:
            return next(
                (
                    row
                    for row in self._sealed.values()
                    if row["event_id"] == event_id and row["field"] == field
                ),
                None,
            )

    def events_with_topics(
        self, originator_ids: Sequence[UUID], topics: Sequence[str]
    ) -> list[StoredEvent]:
        wanted = set(topics)
        return [
            stored
            for oid in sorted(originator_ids, key=str)
            for stored in self.select_events(oid)
            if stored.topic in wanted
        ]


def _sealed_key(row: Mapping[str, Any]) -> tuple[str, int, str]:
    return str(row["originator_id"]), int(row["originator_version"]), str(row["field"])


class Factory(POPOFactory):
    """``PERSISTENCE_MODULE=ledger.adapters.memory:Factory`` selects this factory."""

    def application_recorder(self) -> ApplicationRecorder:
        return MemoryLedgerRecorder()
