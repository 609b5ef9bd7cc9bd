"""The port the application service writes and replays through, beyond eventsourcing's recorder.

eventsourcing's ``ApplicationRecorder`` stores events and hands out log
positions; a point-in-time ledger also needs to know *when* each position was
recorded, which stream version stood at a position, which keyed write already
happened, and the Merkle tree head a decision was computed from. Those are the
methods below. Two adapters implement them:

- :class:`ledger.adapters.recorder.LedgerRecorder` (SQLite, PostgreSQL), the
  product: index, idempotency and Merkle rows written in the event's transaction;
- :class:`ledger.adapters.memory.MemoryLedgerRecorder` (eventsourcing's POPO
  recorder, no database), for unit tests of the service: ``QPLedger("memory:")``.

Writes go through eventsourcing (``Application.save(..., idempotency=row)``):
an adapter's ``insert_events`` must record the index row of every event, and
the ``idempotency`` row when given, atomically with the events, and raise
``eventsourcing.persistence.IntegrityError`` when the key was taken meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent


@runtime_checkable
class LedgerStore(Protocol):
    """Recorded time, stream versions by position, keyed writes and the Merkle head."""

    #: The ledger's clock (microseconds since the epoch). Tests may replace it;
    #: recorded time stays strictly increasing in log order whatever it returns.
    clock: Callable[[], int]

    def head(self) -> int:
        """The last log position (0 for an empty log)."""
        ...

    def recorded_us(self, position: int) -> int | None:
        """The recorded time of the last event at or before a position (None: none)."""
        ...

    def recorded_us_written(self, position: int) -> int | None:
        """The recorded time this thread's last insert gave a position, without a read."""
        ...

    def position_at(self, recorded_us: int) -> int:
        """The last log position recorded at or before the instant (0 if none)."""
        ...

    def stream_version_at(self, originator_id: str, position: int) -> int | None:
        """The stream's version as it stood at a log position (None: not yet opened)."""
        ...

    def locate(self, originator_id: str, versions: list[int]) -> dict[int, tuple[int, int]]:
        """Stream versions to (log position, recorded time in microseconds)."""
        ...

    def originator_at(self, position: int) -> str | None:
        """The stream of the event at a log position."""
        ...

    def log_head_at(self, position: int) -> tuple[int, bytes]:
        """The Merkle tree (size, root) of the log as it stood at a position."""
        ...

    def idempotent_write(self, actor: str, key: str) -> Mapping[str, Any] | None:
        """The row stored with an earlier keyed write (request digest, version, position)."""
        ...

    def sealed_texts(self, originator_id: str, first: int, last: int) -> dict[tuple[int, str], str]:
        """The words of a stream's sealed fields, by (version, field), versions first..last."""
        ...

    def sealed_field(self, event_id: str, field: str) -> Mapping[str, Any] | None:
        """One event's sealed field (originator_id, originator_version, digest, ...) or None.

        ``insert_events(..., erase=row)`` deletes it in the write's transaction and
        raises ``IntegrityError`` when it is already gone.
        """
        ...

    def events_with_topics(
        self, originator_ids: Sequence[UUID], topics: Sequence[str]
    ) -> list[StoredEvent]:
        """The streams' events of these topics, by stream then version (one query)."""
        ...
