"""The application service: the one way in for commands and replays.

Callers (the CLI, the HTTP API, tests) pass ids and values and get receipts
and decision documents back; they never touch the repository or ``save``.
Storage is chosen by one database URL (SQLite by default, PostgreSQL through
psycopg2), wired into eventsourcing through ``ledger.store``.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, IntegrityError, MapperDeserialisationError
from sqlalchemy import RowMapping

from ledger.adapters.recorder import LedgerRecorder
from ledger.config import DEFAULT_DATABASE_URL, database_url_from_env
from ledger.domain.cases import (
    CASE_COMMANDS,
    CASE_EVENT_TYPES,
    HCAICase,
    assigned_ccg,
    case_stream_id,
)
from ledger.domain.ccgs import get_ccg
from ledger.domain.clock import parse_instant, to_us, us_to_iso
from ledger.domain.commands import Command, loads_line, parse_command
from ledger.domain.determinations import CCGDeterminations
from ledger.domain.errors import (
    ConcurrencyConflict,
    IdempotencyKeyReused,
    InvalidCommand,
    LedgerError,
    NotFound,
    RuleViolation,
    UnknownCCG,
)
from ledger.domain.facts import (
    EventRef,
    Facts,
)
from ledger.domain.record import EVENT_TYPES, CCGPremiumRecord, event_id, stream_id
from ledger.domain.record_facts import facts_from_record as facts_from_record  # re-exported
from ledger.domain.record_facts import typed_versions as typed_versions
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import Decision, decide
from ledger.engine.decide import number as json_number
from ledger.service.determinations import Determinations

log = logging.getLogger(__name__)

#: How often a concurrent writer may beat us to a stream before we give up.
MAX_WRITE_ATTEMPTS = 20


@dataclass(frozen=True)
class Receipt:
    """What a stored command became: its event id, stream version and log position."""

    type: str
    ccg: str
    scheme: str
    event_id: str
    version: int
    position: int
    recorded_at: str
    #: True when this is the stored answer to an earlier request with the same key.
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "replayed"}


@dataclass
class ImportReport:
    stored: int = 0
    rejected: int = 0
    last_position: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "rejected": self.rejected,
            "last_position": self.last_position,
        }


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


class QPLedger(Application[UUID]):
    """The Quality Premium ledger: records facts, replays decisions at any point."""

    name = "QPLedger"
    # Snapshots bound the cost of a point-in-time replay, whatever the stream's length.
    snapshotting_intervals = {CCGPremiumRecord: 50, CCGDeterminations: 20}

    def __init__(self, database_url: str | None = None, env: dict[str, str] | None = None):
        self.database_url = database_url or database_url_from_env() or DEFAULT_DATABASE_URL
        settings = {
            "PERSISTENCE_MODULE": "ledger.adapters.recorder:Factory",
            "SQLALCHEMY_URL": self.database_url,
            "AGGREGATE_CACHE_MAXSIZE": "1000",
        }
        settings.update(env or {})
        super().__init__(env=settings)
        self._locks_guard = threading.Lock()
        self._stream_locks: dict[UUID, threading.Lock] = {}

    def construct_snapshot_store(self) -> EventStore[UUID]:
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return SnapshotStore(mapper=self.mapper, recorder=recorder)

    def close(self) -> None:
        """Release database connections (tests and short-lived CLI runs)."""
        super().close()
        engine = self.store.datastore.engine
        if engine is not None and hasattr(engine, "dispose"):
            engine.dispose()

    @cached_property
    def determinations(self) -> Determinations:
        """Issued decisions, reproductions, diffs and appeals (ledger/service/determinations.py)."""
        return Determinations(self)

    @property
    def store(self) -> LedgerRecorder:
        recorder = self.recorder
        assert isinstance(recorder, LedgerRecorder)
        return recorder

    # -- writing --------------------------------------------------------------

    def execute(
        self,
        raw: dict[str, Any] | Command,
        *,
        actor: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Validate one command and record it as one event (or raise, storing nothing).

        The actor given here (the caller's identity) wins over one in the body.
        A concurrent write to the same stream is retried on fresh state, so no
        acknowledged event is lost; with ``expected_version`` it is refused instead.
        With ``idempotency_key``, a retry of the same request returns the first
        receipt and stores nothing; the same key with another request is refused.
        """
        command = raw if isinstance(raw, Command) else parse_command(raw)
        who = actor or command.actor or default_actor()
        oid = stream_id(command.ccg, command.scheme)
        retry = None
        if idempotency_key is not None:
            retry = self._idempotency_row(who, idempotency_key, command)
        if command.type in CASE_COMMANDS:
            if expected_version is not None:
                raise InvalidCommand(
                    "If-Match: a case command may change several CCGs' records, so it "
                    "cannot be made conditional on one; send it without If-Match",
                    field="If-Match",
                )
            return self._execute_case(command, who, retry)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            # One writer per stream in this process; writers in other processes
            # are resolved by the stream's version constraint, then a jittered pause.
            with self._stream_lock(oid):
                if retry is not None:
                    earlier = self._earlier_receipt(retry)
                    if earlier is not None:
                        return earlier
                record = self.load_record(command.ccg, command.scheme, who)
                # A record not yet stored reads as version 0 (its opening is pending).
                stored = record.version - len(record.pending_events)
                if expected_version is not None and stored != expected_version:
                    raise ConcurrencyConflict(
                        f"the record of {command.ccg} in {command.scheme} is at version "
                        f"{stored}, not {expected_version}",
                        field="If-Match",
                    )
                record.apply_command(command.type, command.fields, who, command.reason)
                try:
                    recordings = self.save(record, idempotency=retry)
                except IntegrityError:
                    self.forget(oid)
                    if expected_version is not None and (
                        retry is None or self._earlier_receipt(retry) is None
                    ):
                        raise ConcurrencyConflict(
                            f"the record of {command.ccg} in {command.scheme} moved on",
                            field="If-Match",
                        ) from None
                else:
                    last = recordings[-1]
                    return self._receipt(
                        command, oid, last.domain_event.originator_version, last.notification.id
                    )
            time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise ConcurrencyConflict(f"too many concurrent writes to {command.ccg}; try again")

    def _execute_case(self, command: Command, who: str, retry: dict[str, Any] | None) -> Receipt:
        """Record an HCAI case command on the case's stream and the CCG records it touches.

        One transaction holds the case's event and, when the assignment moves,
        the attribution's end on the CCG it leaves and its start on the CCG it
        reaches (ledger/domain/cases.py), in that order, so no replay ever counts a
        case for two CCGs. The receipt names the case's event, the last one.
        """
        case_oid = case_stream_id(command.scheme, command.fields["case_id"])
        for attempt in range(MAX_WRITE_ATTEMPTS):
            with self._stream_lock(case_oid):
                if retry is not None:
                    earlier = self._earlier_receipt(retry)
                    if earlier is not None:
                        return earlier
                changed = self._case_change(command, who)
                try:
                    # The case last: a keyed write's stored receipt is the last event.
                    recordings = self.save(*changed, idempotency=retry)
                except IntegrityError:
                    for aggregate in changed:
                        self.forget(aggregate.id)
                else:
                    last = recordings[-1]
                    return self._receipt(
                        command,
                        case_oid,
                        last.domain_event.originator_version,
                        last.notification.id,
                    )
            time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise ConcurrencyConflict(f"too many concurrent writes to case {command.fields['case_id']}")

    def load_case(self, scheme: str, case_id: str) -> HCAICase | None:
        try:
            case: HCAICase = self.repository.get(case_stream_id(scheme, case_id))
        except AggregateNotFoundError:
            return None
        return case

    def _case_change(self, command: Command, who: str) -> list[Any]:
        """The aggregates a case command changes, with their new events; the case last."""
        f, scheme, reason = command.fields, command.scheme, command.reason
        case_id = f["case_id"]
        case = self.load_case(scheme, case_id)
        if command.type == "hcai_case_reported":
            if case is not None:
                raise RuleViolation(
                    f"case_id: case {case_id!r} was already reported in {scheme} (against "
                    f"{case.ccg}, specimen {case.specimen_date} at {case.trust}); a case is "
                    "reported once",
                    field="case_id",
                )
            reported = HCAICase(
                scheme=scheme,
                case_id=case_id,
                organism=f["organism"],
                specimen_date=f["specimen_date"],
                trust=f["trust"],
                ccg=command.ccg,
                actor=who,
                reason=reason,
            )
            return [reported]
        if case is None:
            raise RuleViolation(
                f"case_id: no case {case_id!r} has been reported in {scheme}; "
                "send hcai_case_reported first",
                field="case_id",
            )
        if case.ccg != command.ccg:
            raise RuleViolation(
                f"ccg: case {case_id!r} was reported against {case.ccg}, not {command.ccg}; "
                "its commands name the CCG it was reported against",
                field="ccg",
                allowed=[case.ccg],
            )
        leaving = assigned_ccg(case.assigned_to)
        case_oid = case_stream_id(scheme, case_id)
        records: list[CCGPremiumRecord] = []
        if command.type == "hcai_case_assigned":
            case.check_open("assigned")
            case.assign(f["assigned_to"], f["assigned_by"], f["pir_reference"], who, reason)
            now, reaching = f["assigned_to"], assigned_ccg(f["assigned_to"])
            by, reference = f["assigned_by"], f["pir_reference"]
        else:
            case.check_open("withdrawn again")
            case.withdraw(who, reason)
            now, reaching, by, reference = "withdrawn", None, None, None
        case_event = event_id(case_oid, int(case.version))
        if leaving is not None and leaving != reaching:
            record = self.load_record(leaving, scheme, who)
            record.end_case_attribution(case_id, now, by, reference, case_event, who, reason)
            records.append(record)
        if reaching is not None:
            record = self.load_record(reaching, scheme, who)
            record.attribute_case(
                **case.attribution(), case_event=case_event, actor=who, reason=reason
            )
            records.append(record)
        return [*records, case]

    def _stream_lock(self, oid: UUID) -> threading.Lock:
        with self._locks_guard:
            lock = self._stream_locks.get(oid)
            if lock is None:
                lock = self._stream_locks[oid] = threading.Lock()
            return lock

    def _idempotency_row(self, actor: str, key: str, command: Command) -> dict[str, Any]:
        return self.idempotency_request(
            actor,
            key,
            command.type,
            command.ccg,
            command.scheme,
            {"fields": command.fields, "reason": command.reason},
        )

    def idempotency_request(
        self, actor: str, key: str, kind: str, ccg: str, scheme: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        """The row a keyed write stores with its events (``save(..., idempotency=row)``).

        ``kind`` and ``request`` are what make two requests "the same": a retry
        must repeat both, so one key can't be reused for another kind of write.
        """
        if not isinstance(key, str) or not 1 <= len(key) <= 200 or not key.isprintable():
            raise InvalidCommand(
                "Idempotency-Key: must be 1 to 200 printable characters", field="Idempotency-Key"
            )
        canonical = json.dumps(
            {"type": kind, "ccg": ccg, "scheme": scheme, **request},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        digest = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return {
            "actor": actor,
            "key": key,
            "request_digest": digest,
            "type": kind,
            "ccg": ccg,
            "scheme": scheme,
        }

    def prior_write(self, retry: dict[str, Any]) -> RowMapping | None:
        """The stored row of an earlier write with this key, if any.

        Raises :class:`IdempotencyKeyReused` when the key was used for another request.
        """
        row = self.store.idempotent_write(retry["actor"], retry["key"])
        if row is not None and row["request_digest"] != retry["request_digest"]:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {retry['key']!r} was already used for a different request "
                f"({row['type']} for {row['ccg']})",
                field="Idempotency-Key",
            )
        return row

    def _earlier_receipt(self, retry: dict[str, Any]) -> Receipt | None:
        row = self.prior_write(retry)
        if row is None:
            return None
        oid = stream_id(row["ccg"], row["scheme"])
        if row["type"] in CASE_COMMANDS:
            found = self.store.originator_at(int(row["position"]))
            oid = UUID(found) if found else oid
        return Receipt(
            type=row["type"],
            ccg=row["ccg"],
            scheme=row["scheme"],
            event_id=event_id(oid, int(row["version"])),
            version=int(row["version"]),
            position=int(row["position"]),
            recorded_at=us_to_iso(int(row["recorded_us"])),
            replayed=True,
        )

    def load_record(self, ccg: str, scheme: str, actor: str) -> CCGPremiumRecord:
        """The CCG's record for the scheme; opened (first event) by the first command."""
        try:
            record: CCGPremiumRecord = self.repository.get(stream_id(ccg, scheme))
        except AggregateNotFoundError:
            record = CCGPremiumRecord(ccg=ccg, scheme=scheme, actor=actor)
        return record

    def _receipt(self, command: Command, oid: UUID, version: int, position: int) -> Receipt:
        return Receipt(
            type=command.type,
            ccg=command.ccg,
            scheme=command.scheme,
            event_id=event_id(oid, version),
            version=version,
            position=position,
            recorded_at=us_to_iso(
                self.store.recorded_us_written(position) or self._recorded_us(position)
            ),
        )

    def import_lines(
        self, lines: Iterable[str | bytes], *, actor: str | None = None, batch_size: int = 200
    ) -> ImportReport:
        """Import JSON lines: store every valid line, report every rejected one.

        Lines may be bytes (a file read as it is, so one line that is not UTF-8
        is one rejected line, not the end of the import) or text. Lines are
        applied in order and saved in batches (one transaction per batch) for
        speed; a batch that loses a race with another writer is replayed line
        by line, so nothing valid is dropped.
        """
        report = ImportReport()
        batch: list[tuple[int, Command]] = []
        # Records stay loaded across batches (each is read once per import); a
        # batch that loses a race clears them so the next batch reads fresh state.
        records: dict[UUID, CCGPremiumRecord] = {}
        for number, line in enumerate(lines, start=1):
            if number == 1:
                # Spreadsheet tools often start a UTF-8 file with a byte order mark.
                if isinstance(line, bytes):
                    line = line.removeprefix(b"\xef\xbb\xbf")
                else:
                    line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                command = parse_command(loads_line(line))
            except LedgerError as e:
                report.rejected += 1
                report.errors.append({"line": number, **e.to_dict()})
                continue
            if command.type in CASE_COMMANDS:
                # A case may change several CCGs' records: flush what came before,
                # record it on its own, then read the records afresh.
                if batch:
                    self._import_batch(batch, actor, report, records)
                    batch = []
                records.clear()
                try:
                    self.execute(command, actor=command.actor or actor)
                    report.stored += 1
                except LedgerError as e:
                    report.rejected += 1
                    report.errors.append({"line": number, **e.to_dict()})
                continue
            batch.append((number, command))
            if len(batch) >= batch_size:
                self._import_batch(batch, actor, report, records)
                batch = []
        if batch:
            self._import_batch(batch, actor, report, records)
        report.errors.sort(key=lambda e: int(e["line"]))
        report.last_position = self.max_position()
        return report

    def _import_batch(
        self,
        batch: list[tuple[int, Command]],
        actor: str | None,
        report: ImportReport,
        records: dict[UUID, CCGPremiumRecord],
    ) -> None:
        if len(records) > 10_000:
            records.clear()
        touched: set[UUID] = set()  # a record opened only by rejected lines is not saved
        accepted = 0
        errors: list[dict[str, Any]] = []
        for number, command in batch:
            oid = stream_id(command.ccg, command.scheme)
            # In a bulk import a line's own actor wins; the importer is the default.
            who = command.actor or actor or default_actor()
            record = records.get(oid) or self.load_record(command.ccg, command.scheme, who)
            records[oid] = record
            try:
                record.apply_command(command.type, command.fields, who, command.reason)
                accepted += 1
                touched.add(oid)
            except LedgerError as e:
                errors.append({"line": number, **e.to_dict()})
        try:
            self.save(*(records[oid] for oid in touched))
        except IntegrityError:
            # Another writer got in first: replay this batch one line at a time
            # on fresh state, so nothing valid is dropped.
            for oid in records:
                self.forget(oid)
            records.clear()  # their unsaved changes are gone; reload from the log
            for number, command in batch:
                try:
                    self.execute(command, actor=command.actor or actor)
                    report.stored += 1
                except LedgerError as e:
                    report.rejected += 1
                    report.errors.append({"line": number, **e.to_dict()})
            return
        report.stored += accepted
        report.rejected += len(errors)
        report.errors.extend(errors)

    def forget(self, oid: UUID) -> None:
        if self.repository.cache:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(oid, evict=True)

    # -- reading --------------------------------------------------------------

    def max_position(self) -> int:
        return self.store.head()

    def _recorded_us(self, position: int) -> int:
        value = self.store.recorded_us(position)
        if value is None:
            raise InvalidCommand(f"position {position} is not in the log", field="position")
        return value

    def resolve_point(
        self, *, as_of: str | None = None, position: int | None = None
    ) -> tuple[int, str | None]:
        """Turn "as of T" or "at position P" (or now) into a log position and a time.

        Recorded time is strictly increasing in log order, so the events known
        at T are exactly the log prefix up to the last position recorded <= T.
        """
        if as_of is not None and position is not None:
            raise InvalidCommand("give as_of or position, not both", field="as_of")
        head = self.max_position()
        if position is not None:
            if isinstance(position, bool) or not isinstance(position, int) or position < 0:
                raise InvalidCommand("position: must be a whole number >= 0", field="position")
            if position > head:
                raise InvalidCommand(
                    f"position: {position} is beyond the end of the log ({head})",
                    field="position",
                    allowed=f"0..{head}",
                )
            known = self.store.recorded_us(position)
            return position, (us_to_iso(known) if known is not None else None)
        if as_of is not None:
            moment = parse_instant(as_of)
            t = to_us(moment)
            # Another process's clock may run ahead of ours: a time the ledger has
            # already recorded is never "in the future".
            last = self.store.recorded_us(head) if head else None
            if t > max(self.store.clock(), last or 0):
                raise InvalidCommand(
                    f"as_of: {as_of} is in the future; a replay can only use "
                    "what the ledger already knows",
                    field="as_of",
                )
            return self.store.position_at(t), us_to_iso(t)
        return head, (us_to_iso(self._recorded_us(head)) if head else None)

    def _refs(self, oid: UUID, typed_versions: dict[int, str]) -> dict[int, EventRef]:
        if not typed_versions:
            return {}
        located = self.store.locate(str(oid), sorted(typed_versions))
        return {
            v: EventRef(
                id=event_id(oid, v), position=p, type=typed_versions[v], recorded_at=us_to_iso(t)
            )
            for v, (p, t) in located.items()
        }

    def check_subject(self, ccg: str, scheme: str) -> None:
        if get_ccg(ccg) is None:
            raise UnknownCCG(f"ccg: unknown CCG code {ccg!r}", field="ccg")
        get_scheme(scheme)

    def facts(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Facts:
        """The facts known about one CCG at a point in the log (the engine's input)."""
        self.check_subject(ccg, scheme)
        point, moment = self.resolve_point(as_of=as_of, position=position)
        oid = stream_id(ccg, scheme)
        version = self.store.stream_version_at(str(oid), point)
        if version is None:
            return Facts(ccg=ccg, scheme=scheme, position=point, as_of=moment)
        record: CCGPremiumRecord = self.repository.get(oid, version=version)
        return facts_from_record(record, self._refs(oid, typed_versions(record)), point, moment)

    def decision(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Decision:
        """The premium decision as it stood at a recorded time or log position (or now)."""
        facts = self.facts(ccg, scheme, as_of=as_of, position=position)
        decision = decide(get_scheme(scheme), facts)
        self.attach_log(decision.document)
        return decision

    def attach_log(self, document: dict[str, Any]) -> None:
        """Point a decision at the log it used: the Merkle tree size and root at its position.

        An auditor holding a checkpoint can then prove, with a consistency proof,
        that the replay used a prefix of the log they trust.
        """
        size, root = self.store.log_head_at(int(document["position"]))
        document["log"] = {"tree_size": size, "root_hash": "sha256:" + root.hex()}

    def stream_version(self, ccg: str, scheme: str) -> int:
        self.check_subject(ccg, scheme)
        try:
            return int(self.repository.get(stream_id(ccg, scheme)).version)
        except AggregateNotFoundError:
            return 0

    def stream_version_at(self, ccg: str, scheme: str, position: int) -> int:
        """The CCG's record version as it stood at a log position (0: not yet opened)."""
        self.check_subject(ccg, scheme)
        return self.store.stream_version_at(str(stream_id(ccg, scheme)), position) or 0

    def history(
        self, ccg: str, scheme: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A CCG's events in order, with position, recorded time, actor, reason and fields."""
        self.check_subject(ccg, scheme)
        oid = stream_id(ccg, scheme)
        lte = None if limit is None else offset + limit
        events = list(self.events.get(oid, gt=offset or None, lte=lte))
        if not events:
            return []
        typed = {
            e.originator_version: EVENT_TYPES.get(type(e).__name__, type(e).__name__)
            for e in events
        }
        refs = self._refs(oid, typed)
        out = []
        for e in events:
            ref = refs[e.originator_version]
            payload = {
                k: plain(v)
                for k, v in e.__dict__.items()
                if k
                not in {
                    "originator_id",
                    "originator_version",
                    "timestamp",
                    "originator_topic",
                    "actor",
                    "reason",
                }
            }
            out.append(
                {
                    "position": ref.position,
                    "recorded_at": ref.recorded_at,
                    "id": ref.id,
                    "version": e.originator_version,
                    "type": ref.type,
                    "actor": e.__dict__.get("actor"),
                    "reason": e.__dict__.get("reason"),
                    "fields": payload,
                }
            )
        return out

    def case_history(self, ccg: str, scheme: str, case_id: str) -> dict[str, Any]:
        """An HCAI case as it stands and its whole story: reported, (re)assigned, withdrawn.

        Read under the CCG it was reported against (the one its commands name),
        so "whose case was it" has one place to look, with who made each call.
        """
        self.check_subject(ccg, scheme)
        case = self.load_case(scheme, case_id)
        if case is None or case.ccg != ccg:
            raise NotFound(
                f"case_id: no case {case_id!r} has been reported against {ccg} in {scheme}",
                field="case_id",
            )
        oid = case_stream_id(scheme, case_id)
        events = list(self.events.get(oid))
        names = {e.originator_version: CASE_EVENT_TYPES[type(e).__name__] for e in events}
        refs = self._refs(oid, names)
        hidden = {"originator_id", "originator_version", "timestamp", "actor", "reason"}
        return {
            "case_id": case.case_id,
            "scheme": scheme,
            "reported_against": case.ccg,
            "organism": case.organism,
            "specimen_date": case.specimen_date,
            "trust": case.trust,
            "assigned_to": case.assigned_to,
            "assigned_by": case.assigned_by,
            "pir_reference": case.pir_reference,
            "withdrawn": case.withdrawn,
            "events": [
                {
                    "position": refs[e.originator_version].position,
                    "recorded_at": refs[e.originator_version].recorded_at,
                    "id": refs[e.originator_version].id,
                    "version": e.originator_version,
                    "type": names[e.originator_version],
                    "actor": e.__dict__.get("actor"),
                    "reason": e.__dict__.get("reason"),
                    "fields": {
                        k: plain(v)
                        for k, v in e.__dict__.items()
                        if k not in hidden and k != "originator_topic"
                    },
                }
                for e in events
            ],
        }

    def iter_history(self, ccg: str, scheme: str, page: int = 500) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            chunk = self.history(ccg, scheme, offset=offset, limit=page)
            yield from chunk
            if len(chunk) < page:
                return
            offset += page


def plain(value: Any) -> Any:
    """Decimals as JSON numbers, recursively, so history reads as the user wrote it."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli:unknown"
