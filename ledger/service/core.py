"""What every part of the application service stands on: the store, records, receipts.

:class:`LedgerCore` is eventsourcing's ``Application`` wired to the ledger's
store, chosen by one database URL: SQLite by default, PostgreSQL through
psycopg2 (ledger/adapters/recorder.py), or ``memory:`` for unit tests
(ledger/adapters/memory.py). The service reads positions, recorded times and
keyed writes only through :class:`ledger.adapters.port.LedgerStore`
(``log_store``); ``store`` is the SQL recorder itself, for the tools that
need SQL (read models, integrity proofs, bundles).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.persistence import EventStore, JSONTranscoder, Mapper

from ledger.adapters.index_guard import IndexTampered
from ledger.adapters.memory import MEMORY_URL
from ledger.adapters.port import LedgerStore
from ledger.adapters.recorder import LedgerRecorder
from ledger.adapters.sealing import SealingMapper
from ledger.adapters.snapshots import SnapshotStore
from ledger.config import DEFAULT_DATABASE_URL, database_url_from_env
from ledger.domain.cases import HCAICase, case_stream_id
from ledger.domain.ccgs import get_ccg
from ledger.domain.clock import us_to_iso
from ledger.domain.commands import Command
from ledger.domain.errors import InvalidCommand, UnknownCCG
from ledger.domain.facts import EventRef
from ledger.domain.record import CCGPremiumRecord, event_id, stream_id
from ledger.domain.scheme import get_scheme
from ledger.integrity.sealed import SealedTextAsDigest
from ledger.service.contiguous import ContiguousRepository
from ledger.service.decision_cache import DecisionCache
from ledger.service.receipts import Receipt

SQL_FACTORY = "ledger.adapters.recorder:Factory"
MEMORY_FACTORY = "ledger.adapters.memory:Factory"


class LedgerCore(Application[UUID]):
    """eventsourcing's Application on the ledger's store, with the shared helpers."""

    def __init__(self, database_url: str | None = None, env: dict[str, str] | None = None):
        self.database_url = database_url or database_url_from_env() or DEFAULT_DATABASE_URL
        memory = self.database_url == MEMORY_URL
        settings = {
            "PERSISTENCE_MODULE": MEMORY_FACTORY if memory else SQL_FACTORY,
            "AGGREGATE_CACHE_MAXSIZE": "1000",
        }
        if not memory:
            settings["SQLALCHEMY_URL"] = self.database_url
        settings.update(env or {})
        super().__init__(env=settings)
        if not isinstance(self.recorder, LedgerStore):
            raise TypeError(
                f"PERSISTENCE_MODULE {settings['PERSISTENCE_MODULE']!r} gives a recorder "
                "without the ledger's index (ledger/adapters/port.py); use "
                f"{SQL_FACTORY!r} or {MEMORY_FACTORY!r}"
            )
        #: The port the service reads positions, recorded times and keyed writes through.
        self.log_store: LedgerStore = self.recorder
        self._locks_guard = threading.Lock()
        self._stream_locks: dict[UUID, threading.Lock] = {}
        #: Values of final log positions, kept (ledger/service/decision_cache.py).
        self.decision_cache = DecisionCache()

    def construct_mapper(self) -> Mapper[UUID]:
        """Erasable words are stored apart from the payload (ledger/adapters/sealing.py)."""
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=SealingMapper
        )

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, rebuilding records only from unbroken runs of events
        (ledger/service/contiguous.py); the same settings as the library's own."""
        library = super().construct_repository()
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return ContiguousRepository(
            event_store=library.event_store,
            snapshot_store=library.snapshot_store,
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=library.fastforward,
            fastforward_skipping=library.fastforward_skipping,
            deepcopy_from_cache=library.deepcopy_from_cache,
        )

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SealedTextAsDigest())

    def construct_snapshot_store(self) -> EventStore[UUID]:
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return SnapshotStore(mapper=self.mapper, recorder=recorder)

    def close(self) -> None:
        """Release database connections (tests and short-lived CLI runs)."""
        super().close()
        engine = getattr(getattr(self.recorder, "datastore", None), "engine", None)
        if engine is not None and hasattr(engine, "dispose"):
            engine.dispose()

    @property
    def store(self) -> LedgerRecorder:
        """The SQL recorder, for what only SQL has: read models, Merkle proofs, bundles."""
        recorder = self.recorder
        if not isinstance(recorder, LedgerRecorder):
            raise TypeError(
                f"this needs the SQL store; the ledger runs on {type(recorder).__name__} "
                f"({self.database_url})"
            )
        return recorder

    def execute(
        self,
        raw: dict[str, Any] | Command,
        *,
        actor: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Record one command (defined by ``QPLedger``, ledger/service/application.py)."""
        raise NotImplementedError

    # -- records ---------------------------------------------------------------

    def load_record(self, ccg: str, scheme: str, actor: str) -> CCGPremiumRecord:
        """The CCG's record for the scheme; opened (first event) by the first command."""
        try:
            record: CCGPremiumRecord = self.repository.get(stream_id(ccg, scheme))
        except AggregateNotFoundError:
            record = CCGPremiumRecord(ccg=ccg, scheme=scheme, actor=actor)
        return record

    def load_case(self, scheme: str, case_id: str) -> HCAICase | None:
        try:
            case: HCAICase = self.repository.get(case_stream_id(scheme, case_id))
        except AggregateNotFoundError:
            return None
        return case

    def forget(self, oid: UUID) -> None:
        """Drop a cached aggregate whose save lost a race, so the next read is fresh."""
        if self.repository.cache:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(oid, evict=True)

    def _stream_lock(self, oid: UUID) -> threading.Lock:
        """One writer per stream in this process (other processes: the store's constraints)."""
        with self._locks_guard:
            lock = self._stream_locks.get(oid)
            if lock is None:
                lock = self._stream_locks[oid] = threading.Lock()
            return lock

    def check_subject(self, ccg: str, scheme: str) -> None:
        if get_ccg(ccg) is None:
            raise UnknownCCG(f"ccg: unknown CCG code {ccg!r}", field="ccg")
        get_scheme(scheme)

    # -- positions and times ---------------------------------------------------

    def max_position(self) -> int:
        return self.log_store.head()

    def _recorded_us(self, position: int) -> int:
        value = self.log_store.recorded_us(position)
        if value is None:
            raise InvalidCommand(f"position {position} is not in the log", field="position")
        return value

    def _receipt(self, command: Command, oid: UUID, version: int, position: int) -> Receipt:
        return Receipt(
            type=command.type,
            ccg=command.ccg,
            scheme=command.scheme,
            event_id=event_id(oid, version),
            version=version,
            position=position,
            recorded_at=us_to_iso(
                self.log_store.recorded_us_written(position) or self._recorded_us(position)
            ),
        )

    def _refs(self, oid: UUID, typed_versions: dict[int, str]) -> dict[int, EventRef]:
        """Where each of a stream's versions sits in the log, and when it was recorded."""
        if not typed_versions:
            return {}
        located = self.log_store.locate(str(oid), sorted(typed_versions))
        missing = sorted(set(typed_versions) - set(located))
        if missing:
            # Each event's index row is written in its own transaction: one that is
            # gone (or moved to another stream) was changed outside the ledger.
            raise IndexTampered(
                f"the event index does not match the events: stream {oid} version "
                f"{missing[0]} has no index row in its stream (`qp-ledger verify` names the row)"
            )
        return {
            v: EventRef(
                id=event_id(oid, v), position=p, type=typed_versions[v], recorded_at=us_to_iso(t)
            )
            for v, (p, t) in located.items()
        }
