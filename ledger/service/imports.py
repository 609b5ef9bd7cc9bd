"""Bulk import of JSON lines: every valid line stored, every rejected one reported.

Lines are applied in order and saved in batches (one transaction per batch)
for speed; a batch that loses a race with another writer is replayed line by
line through ``execute``, so nothing valid is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ledger.domain.commands import CaseCommand, Command, loads_line, parse_command
from ledger.domain.errors import LedgerError
from ledger.domain.record import CCGPremiumRecord, stream_id
from ledger.service.receipts import ImportReport, default_actor
from ledger.service.snapshotting import SnapshotsInHand


class Imports(SnapshotsInHand):
    """``import_lines``: the contract's way in (docs/contract: import lines in)."""

    def import_lines(
        self, lines: Iterable[str | bytes], *, actor: str | None = None, batch_size: int = 200
    ) -> ImportReport:
        """Import JSON lines: store every valid line, report every rejected one.

        Lines may be bytes (a file read as it is, so one line that is not UTF-8
        is one rejected line, not the end of the import) or text.
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
            if isinstance(command, CaseCommand):
                # A case may change several CCGs' records: flush what came before,
                # record it on its own, then read the records afresh.
                if batch:
                    self._import_batch(batch, actor, report, records)
                    batch = []
                records.clear()
                self._import_one(number, command, actor, report)
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

    def _import_one(
        self, number: int, command: Command, actor: str | None, report: ImportReport
    ) -> None:
        try:
            self.execute(command, actor=command.actor or actor)
            report.stored += 1
        except LedgerError as e:
            report.rejected += 1
            report.errors.append({"line": number, **e.to_dict()})

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
        snapshots: dict[Any, Any] = {}  # records as they passed a snapshot version
        accepted = 0
        errors: list[dict[str, Any]] = []
        for number, command in batch:
            oid = stream_id(command.ccg, command.scheme)
            # In a bulk import a line's own actor wins; the importer is the default.
            who = command.actor or actor or default_actor()
            record = records.get(oid) or self.load_record(command.ccg, command.scheme, who)
            records[oid] = record
            try:
                command.apply_to(record, who, command.reason)
                accepted += 1
                touched.add(oid)
                self.prepare_snapshot(record, snapshots)
            except LedgerError as e:
                errors.append({"line": number, **e.to_dict()})
        try:
            with self.prepared_snapshots(snapshots):
                self.save(*(records[oid] for oid in touched))
        except IntegrityError:
            # Another writer got in first: replay this batch one line at a time
            # on fresh state, so nothing valid is dropped.
            for oid in records:
                self.forget(oid)
            records.clear()  # their unsaved changes are gone; reload from the log
            for number, command in batch:
                self._import_one(number, command, actor, report)
            return
        report.stored += accepted
        report.rejected += len(errors)
        report.errors.extend(errors)
