"""HCAI case commands: one transaction for the case and every CCG record it moves between.

A case command is recorded on the case's own stream (ledger/domain/cases.py)
and, when the assignment moves, as the attribution's end on the CCG it leaves
and its start on the CCG it reaches, all in one save, in that order, so no
replay ever counts a case for two CCGs.
"""

from __future__ import annotations

from typing import Any

from ledger.domain.cases import case_stream_id
from ledger.domain.commands import CaseCommand
from ledger.domain.record import CCGPremiumRecord, event_id
from ledger.service.idempotency import Idempotency
from ledger.service.receipts import Receipt
from ledger.service.retry import retry_on_conflict


class CaseWrites(Idempotency):
    """Reporting, (re)assigning and withdrawing HCAI cases."""

    def _execute_case(
        self, command: CaseCommand, who: str, retry: dict[str, Any] | None
    ) -> Receipt:
        """Record a case command on the case's stream and the CCG records it touches.

        The receipt names the case's event, the last one saved.
        """
        case_oid = case_stream_id(command.scheme, command.case_id)
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
            gave_up=f"too many concurrent writes to case {command.case_id}",
        )

    def _case_change(self, command: CaseCommand, who: str) -> list[Any]:
        """The aggregates a case command changes, with their new events; the case last."""
        scheme, reason = command.scheme, command.reason
        found = self.load_case(scheme, command.case_id)
        move = command.apply_to_case(found, who, reason)
        case = move.case
        case_event = event_id(case_stream_id(scheme, case.case_id), int(case.version))
        records: list[CCGPremiumRecord] = []
        if move.leaving is not None and move.leaving != move.reaching:
            assert move.now is not None  # a case leaves a CCG only when assigned or withdrawn
            record = self.load_record(move.leaving, scheme, who)
            record.end_case_attribution(
                case.case_id,
                move.now,
                move.assigned_by,
                move.pir_reference,
                case_event,
                who,
                reason,
            )
            records.append(record)
        if move.reaching is not None:
            record = self.load_record(move.reaching, scheme, who)
            record.attribute_case(
                **case.attribution(), case_event=case_event, actor=who, reason=reason
            )
            records.append(record)
        return [*records, case]
