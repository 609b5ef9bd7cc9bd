"""The application service: the one way in for commands and replays.

Callers (the CLI, the HTTP API, tests) pass ids and values and get receipts
and decision documents back; they never touch the repository or ``save``.
``QPLedger`` is assembled from one part per concern, each its own module:

- ``execute`` (here): validate one command and record it as one event;
- :mod:`.actions`: one method per user action (``submit_measure`` ...), each through ``execute``;
- :mod:`.imports`: bulk import of JSON lines; :mod:`.cases`: HCAI case commands;
- :mod:`.idempotency`: Idempotency-Key rows and replayed receipts;
- :mod:`.replay`: facts and decisions at a time or log position; :mod:`.history`;
- :mod:`.core`: the store (one database URL: SQLite, PostgreSQL or ``memory:``);
- :mod:`.determinations`: issued decisions and appeals (``QPLedger.determinations``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Recording

from ledger.domain.commands import CaseCommand, Command, parse_command
from ledger.domain.determinations import CCGDeterminations
from ledger.domain.errors import ConcurrencyConflict, InvalidCommand, LedgerError
from ledger.domain.record import CCGPremiumRecord, stream_id
from ledger.domain.record_facts import facts_from_record as facts_from_record  # re-exported
from ledger.domain.record_facts import typed_versions as typed_versions
from ledger.service.actions import UserActions
from ledger.service.cases import CaseWrites
from ledger.service.current import CurrentRecords
from ledger.service.determinations import Determinations
from ledger.service.history import History
from ledger.service.imports import Imports
from ledger.service.receipts import ImportReport as ImportReport  # re-exported
from ledger.service.receipts import Receipt, default_actor
from ledger.service.receipts import plain as plain
from ledger.service.replay import Replay
from ledger.service.retry import MAX_WRITE_ATTEMPTS as MAX_WRITE_ATTEMPTS
from ledger.service.retry import retry_on_conflict

__all__ = [
    "MAX_WRITE_ATTEMPTS",
    "ImportReport",
    "QPLedger",
    "Receipt",
    "default_actor",
    "facts_from_record",
    "plain",
    "typed_versions",
]


class QPLedger(UserActions, Imports, History, Replay, CaseWrites):
    """The Quality Premium ledger: records facts, replays decisions at any point."""

    name = "QPLedger"
    # Snapshots bound the cost of a point-in-time replay, whatever the stream's length.
    snapshotting_intervals = {CCGPremiumRecord: 50, CCGDeterminations: 20}

    @cached_property
    def determinations(self) -> Determinations:
        """Issued decisions, reproductions, diffs and appeals (ledger/service/determinations.py)."""
        return Determinations(self)

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
        retry = None
        if idempotency_key is not None:
            retry = self._idempotency_row(who, idempotency_key, command)
        if isinstance(command, CaseCommand):
            if expected_version is not None:
                raise InvalidCommand(
                    "If-Match: a case command may change several CCGs' records, so it "
                    "cannot be made conditional on one; send it without If-Match",
                    field="If-Match",
                )
            return self._execute_case(command, who, retry)
        oid = stream_id(command.ccg, command.scheme)

        def attempt() -> Receipt:
            # One writer per stream in this process; writers in other processes
            # are resolved by the stream's version constraint (retry_on_conflict).
            with self._stream_lock(oid):
                if retry is not None:
                    earlier = self._earlier_receipt(retry)
                    if earlier is not None:
                        return earlier
                held = self._current.get(oid)
                if held is not None:
                    try:
                        return self._record_command(command, held, who, expected_version, retry)
                    except LedgerError:
                        # Judged on the record as this process last saved it, which
                        # another process may have moved on: judge it on the log's.
                        self._current.drop(oid)
                record = self.load_record(command.ccg, command.scheme, who)
                return self._record_command(command, record, who, expected_version, retry)

        return retry_on_conflict(
            attempt,
            after_conflict=lambda: self._after_conflict(command, oid, expected_version, retry),
            gave_up=f"too many concurrent writes to {command.ccg}; try again",
        )

    def _record_command(
        self,
        command: Command,
        record: CCGPremiumRecord,
        who: str,
        expected_version: int | None,
        retry: dict[str, Any] | None,
    ) -> Receipt:
        """Apply the command to the record and save it; hold the saved record for the next."""
        # A record not yet stored reads as version 0 (its opening is pending).
        stored = record.version - len(record.pending_events)
        if expected_version is not None and stored != expected_version:
            raise ConcurrencyConflict(
                f"the record of {command.ccg} in {command.scheme} is at version "
                f"{stored}, not {expected_version}",
                field="If-Match",
            )
        command.apply_to(record, who, command.reason)
        recordings = self.save(record, idempotency=retry)
        self._current.put(record.id, record)
        last = recordings[-1]
        return self._receipt(
            command, record.id, last.domain_event.originator_version, last.notification.id
        )

    @cached_property
    def _current(self) -> CurrentRecords:
        """Records as this process last saved them (ledger/service/current.py)."""
        return CurrentRecords(maxsize=1000)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Every save (cases, appeals, imports too) lets go of the records it changes."""
        for oid in processing_event.aggregates:
            self._current.drop(oid)
        return super()._record(processing_event)

    def forget(self, oid: UUID) -> None:
        super().forget(oid)
        self._current.drop(oid)

    def _after_conflict(
        self,
        command: Command,
        oid: UUID,
        expected_version: int | None,
        retry: dict[str, Any] | None,
    ) -> None:
        """A lost race: retry on fresh state, unless the write was conditional (If-Match).

        A conditional write whose key was stored meanwhile (a racing retry of
        the same request) is retried, to return that first receipt.
        """
        self.forget(oid)
        if expected_version is not None and (retry is None or self._earlier_receipt(retry) is None):
            raise ConcurrencyConflict(
                f"the record of {command.ccg} in {command.scheme} moved on",
                field="If-Match",
            )
