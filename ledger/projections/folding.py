"""The decision after each event, computed by folding events into CCG records.

A projection sees one event at a time, in log order. Re-reading the record
from the store for every event (what ``QPLedger.decision`` does for one
replay) would cost several queries per event, so instead each record is kept
in memory and the event applied to it with ``event.mutate`` -- exactly what
the repository does when it reconstitutes a record -- and the facts are
assembled with ``ledger.application.facts_from_record``, the function the
replay uses. The decision after the event at position P is therefore equal,
field for field, to ``QPLedger.decision(ccg, scheme, position=P)`` (checked
by ``qp-ledger projections check`` and by the tests).

A record missing from memory (a new process, a projector that resynced after
another moved ahead) is loaded from the store at the version before the
event, so any starting point works.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, cast
from uuid import UUID

from cachetools import LRUCache
from sqlalchemy.engine import Engine

from ledger.domain.clock import us_to_iso
from ledger.domain.facts import EventRef, Facts
from ledger.domain.record import CCGPremiumRecord, event_id
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import Decision, decide
from ledger.service.application import QPLedger, facts_from_record, typed_versions


class DecisionMemo:
    """Decisions already computed in this process, by log position (thread-safe LRU).

    The decision after the event at a position is a pure function of the log
    up to it, so projectors in one process may share them instead of each
    running the engine for the same event. Projector threads share one memo,
    hence the lock around cachetools' (unsynchronised) cache.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._items: LRUCache[int, Decision] = LRUCache(maxsize=capacity)
        self._lock = threading.Lock()

    def get(self, position: int) -> Decision | None:
        with self._lock:
            return self._items.get(position)

    def put(self, position: int, decision: Decision) -> None:
        with self._lock:
            self._items[position] = decision


class DecisionFolder:
    """Keeps CCG records in memory and gives the decision after each of their events."""

    def __init__(self, ledger: QPLedger, memo: DecisionMemo | None = None) -> None:
        self.ledger = ledger
        self.memo = memo
        self._records: dict[UUID, CCGPremiumRecord] = {}
        #: stream -> {version: (log position, recorded time in microseconds)}
        self._located: dict[UUID, dict[int, tuple[int, int]]] = {}
        self._refs: dict[UUID, dict[int, EventRef]] = {}
        self._recorded: dict[int, int] = {}

    def prepare(self, positions: Iterable[int]) -> None:
        """Look up the recorded times of a batch's positions with one query."""
        wanted = list(positions)
        self._recorded = {}
        if not wanted:
            return
        store = self.ledger.store
        engine = store.datastore.engine
        assert isinstance(engine, Engine)
        with engine.connect() as conn:
            # Each row with its index code, checked: a read model quotes these times.
            rows = conn.execute(
                store.coded(store.index.c.position.between(min(wanted), max(wanted)))
            ).all()
            store.index_codes.check(conn, rows)
        self._recorded = {int(p): int(t) for p, _, _, t, _ in rows}

    def recorded_us(self, position: int) -> int:
        found = self._recorded.get(position)
        if found is None:
            found = self.ledger.store.recorded_us(position)
            if found is None:
                raise LookupError(f"position {position} is not in the log's index")
        return found

    def fold(
        self, event: CCGPremiumRecord.Event, position: int, recorded_us: int | None = None
    ) -> CCGPremiumRecord:
        """Apply the event to its record (loading the record first if need be).

        ``recorded_us`` saves the index lookup when the caller read it with the event.
        """
        oid = event.originator_id
        version = int(event.originator_version)
        record = self._records.get(oid)
        if record is None or int(record.version) != version - 1:
            record = None
            if version > 1:
                record = self.ledger.repository.get(oid, version=version - 1)
            self._located[oid] = {}
            self._refs[oid] = {}
        folded = cast(CCGPremiumRecord, event.mutate(record))
        self._records[oid] = folded
        if recorded_us is None:
            recorded_us = self.recorded_us(position)
        self._located.setdefault(oid, {})[version] = (position, recorded_us)
        return folded

    def record(self, oid: UUID) -> CCGPremiumRecord:
        """The folded record of a stream, as its last folded event left it."""
        return self._records[oid]

    def decision_after(self, event: CCGPremiumRecord.Event, position: int) -> Decision:
        """The CCG's decision as it stood once the event at ``position`` was recorded."""
        record = self.fold(event, position)
        return self.decision(record.id, int(record.version), position)

    def finished(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document as ``QPLedger.decision`` returns it (with what the ledger attaches
        beyond the engine's output, e.g. the Merkle log head), without changing the shared one."""
        attach = getattr(self.ledger, "attach_log", None)
        if attach is None:
            return document
        out = dict(document)
        attach(out)
        return out

    def deferred(self, event: CCGPremiumRecord.Event, position: int) -> DeferredDecision:
        """Fold the event now; compute its decision only if it is asked for."""
        record = self.fold(event, position)
        return DeferredDecision(self, record, position)

    def decision(self, oid: UUID, version: int, position: int) -> Decision:
        """The decision of a folded record, which must still be at ``version``."""
        record = self._records[oid]
        if int(record.version) != version:
            raise LookupError(
                f"record {oid} has moved on to version {record.version}; "
                f"the decision at version {version} is no longer available"
            )
        if self.memo is not None:
            found = self.memo.get(position)
            if found is not None:
                return found
        decision = self._decide(record, position)
        if self.memo is not None:
            self.memo.put(position, decision)
        return decision

    def _decide(self, record: CCGPremiumRecord, position: int) -> Decision:
        return decide(get_scheme(record.scheme), self.facts(record, position))

    def facts(self, record: CCGPremiumRecord, position: int) -> Facts:
        """The engine's input for a folded record at ``position`` (as the replay builds it)."""
        oid = record.id
        types = typed_versions(record)
        located = self._located[oid]
        missing = [v for v in types if v not in located]
        if missing:
            located.update(self.ledger.store.locate(str(oid), missing))
        # An event's reference never changes, so each is built once.
        known = self._refs.setdefault(oid, {})
        refs: dict[int, EventRef] = {}
        for v, kind in types.items():
            ref = known.get(v)
            if ref is None:
                p, t = located[v]
                ref = known[v] = EventRef(event_id(oid, v), p, kind, us_to_iso(t))
            refs[v] = ref
        as_of = us_to_iso(located[int(record.version)][1])
        return facts_from_record(record, refs, position, as_of)


class DeferredDecision:
    """The decision after one event, computed on first use of ``document``.

    Read models without a timeline only show the last decision of each CCG in
    a batch, so the engine runs once per CCG per batch, not once per event.
    Asking after the record has moved on raises rather than answer wrongly.
    """

    def __init__(self, folder: DecisionFolder, record: CCGPremiumRecord, position: int) -> None:
        self.folder = folder
        self.oid = record.id
        self.version = int(record.version)
        self.position = position
        self.key = (str(record.scheme), str(record.ccg))
        self._document: dict[str, Any] | None = None

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            decision = self.folder.decision(self.oid, self.version, self.position)
            self._document = decision.document
        return self._document
