"""HCAI case commands: one transaction for the case and every CCG record it moves between.

A case command is recorded on the case's own stream (ledger/domain/cases.py)
and, when the assignment moves, as the attribution's end on the CCG it leaves
and its start on the CCG it reaches, all in one save, in that order, so no
replay ever counts a case for two CCGs.
"""

from __future__ import annotations

from typing import Any

from ledger.domain.cases import HCAICase, assigned_ccg, case_stream_id
from ledger.domain.commands import Command
from ledger.domain.errors import RuleViolation
from ledger.domain.record import CCGPremiumRecord, event_id
from ledger.service.idempotency import Idempotency
from ledger.service.receipts import Receipt
from ledger.service.retry import retry_on_conflict


class CaseWrites(Idempotency):
    """Reporting, (re)assigning and withdrawing HCAI cases."""

    def _execute_case(self, command: Command, who: str, retry: dict[str, Any] | None) -> Receipt:
        """Record a case command on the case's stream and the CCG records it touches.

        The receipt names the case's event, the last one saved.
        """
        case_oid = case_stream_id(command.scheme, command.fields["case_id"])
        changed: list[Any] = []

        def attempt() -> Receipt:
            with self._stream_lock(case_oid):
                if retry is not None:
                    earlier = self._earlier_receipt(retry)
                    if earlier is not None:
                        return earlier
                changed[:] = self._case_change(command, who)
                # The case last: a keyed write's stored receipt is the last event.
                recordings = self.save(*changed, idempotency=retry)
                last = recordings[-1]
                return self._receipt(
                    command, case_oid, last.domain_event.originator_version, last.notification.id
                )

        def after_conflict() -> None:
            for aggregate in changed:
                self.forget(aggregate.id)

        return retry_on_conflict(
            attempt,
            after_conflict=after_conflict,
            gave_up=f"too many concurrent writes to case {command.fields['case_id']}",
        )

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
