"""One method per user action, as in eventsourcing's examples/bankaccounts.

Each builds the command a user would send as an import line and goes through
``execute``: the same validation (``parse_command``), the same retry, the same
Idempotency-Key handling and the same receipt as an import line or an HTTP
write. They exist so Python callers (tests, notebooks, the demo) say what
they do — ``ledger.submit_measure("06F", SCHEME, "dementia", ...)`` — instead
of spelling a command dict.
"""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from ledger.service.core import LedgerCore
from ledger.service.receipts import Receipt


class WriteOptions(TypedDict, total=False):
    """What every write may also say, as ``execute`` takes it."""

    #: Why (recorded with the event).
    reason: str
    #: Who (the caller's identity; the CLI user when not given).
    actor: str
    #: Refuse, rather than retry, unless the CCG's record is at this version (If-Match).
    expected_version: int
    #: A retry with the same key returns the first receipt and stores nothing.
    idempotency_key: str


class UserActions(LedgerCore):
    """The CCG's, the Area Team's and the Board's commands, one method each."""

    def _act(
        self,
        kind: str,
        ccg: str,
        scheme: str,
        fields: dict[str, Any],
        options: WriteOptions,
    ) -> Receipt:
        raw: dict[str, Any] = {"type": kind, "ccg": ccg, "scheme": scheme, **fields}
        if "reason" in options:
            raw["reason"] = options["reason"]
        return self.execute(
            raw,
            actor=options.get("actor"),
            expected_version=options.get("expected_version"),
            idempotency_key=options.get("idempotency_key"),
        )

    def record_population(
        self, ccg: str, scheme: str, population: int, source: str, **options: Unpack[WriteOptions]
    ) -> Receipt:
        """The registered population a CCG's payable premium is per head of."""
        fields = {"population": population, "source": source}
        return self._act("population_recorded", ccg, scheme, fields, options)

    def select_local_measures(
        self, ccg: str, scheme: str, measures: list[dict[str, Any]], **options: Unpack[WriteOptions]
    ) -> Receipt:
        """The CCG's choice of local measures from the scheme's menu."""
        return self._act("local_measures_selected", ccg, scheme, {"measures": measures}, options)

    def agree_threshold(
        self,
        ccg: str,
        scheme: str,
        measure: str,
        criterion: str,
        baseline: Any,
        target: Any,
        **options: Unpack[WriteOptions],
    ) -> Receipt:
        """A criterion's baseline and target, as agreed with the Area Team."""
        fields = {"measure": measure, "criterion": criterion, "baseline": baseline}
        return self._act("threshold_agreed", ccg, scheme, {**fields, "target": target}, options)

    def submit_measure(
        self,
        ccg: str,
        scheme: str,
        measure: str,
        criterion: str,
        period: str,
        value: Any,
        **options: Unpack[WriteOptions],
    ) -> Receipt:
        """A measured value of one criterion for one period."""
        fields = {"measure": measure, "criterion": criterion, "period": period, "value": value}
        return self._act("measure_submitted", ccg, scheme, fields, options)

    def submit_standard(
        self,
        ccg: str,
        scheme: str,
        standard: str,
        period: str,
        value: Any,
        **options: Unpack[WriteOptions],
    ) -> Receipt:
        """A constitution standard's performance for one period (it may reduce the premium)."""
        fields = {"standard": standard, "period": period, "value": value}
        return self._act("constitution_standard_submitted", ccg, scheme, fields, options)

    def flag_quality_failure(
        self, ccg: str, scheme: str, flag_id: str, description: str, **options: Unpack[WriteOptions]
    ) -> Receipt:
        """A serious quality failure (a gate: no premium is paid while it stands)."""
        fields = {"flag_id": flag_id, "description": description}
        return self._act("quality_failure_flagged", ccg, scheme, fields, options)

    def rescind_quality_failure(
        self, ccg: str, scheme: str, flag_id: str, **options: Unpack[WriteOptions]
    ) -> Receipt:
        """A quality-failure flag taken back; the gate no longer applies for it."""
        return self._act("quality_failure_rescinded", ccg, scheme, {"flag_id": flag_id}, options)

    def declare_financial_position(
        self,
        ccg: str,
        scheme: str,
        outturn: str,
        amount_pence: int,
        **options: Unpack[WriteOptions],
    ) -> Receipt:
        """The CCG's year-end financial outturn (a gate: an overspend pays no premium)."""
        fields = {"outturn": outturn, "amount_pence": amount_pence}
        return self._act("financial_position_declared", ccg, scheme, fields, options)

    def report_case(
        self,
        ccg: str,
        scheme: str,
        case_id: str,
        organism: str,
        specimen_date: str,
        trust: str,
        **options: Unpack[WriteOptions],
    ) -> Receipt:
        """An HCAI case reported against the patient's CCG of responsibility."""
        fields = {"case_id": case_id, "organism": organism, "specimen_date": specimen_date}
        return self._act("hcai_case_reported", ccg, scheme, {**fields, "trust": trust}, options)

    def assign_case(
        self,
        ccg: str,
        scheme: str,
        case_id: str,
        assigned_to: str,
        assigned_by: str,
        pir_reference: str,
        **options: Unpack[WriteOptions],
    ) -> Receipt:
        """A case assigned after its post-infection review (``ccg:<code>`` or another party)."""
        fields = {"case_id": case_id, "assigned_to": assigned_to, "assigned_by": assigned_by}
        return self._act(
            "hcai_case_assigned", ccg, scheme, {**fields, "pir_reference": pir_reference}, options
        )

    def withdraw_case(
        self, ccg: str, scheme: str, case_id: str, **options: Unpack[WriteOptions]
    ) -> Receipt:
        """A case withdrawn (reported in error): it no longer counts against anyone."""
        return self._act("hcai_case_withdrawn", ccg, scheme, {"case_id": case_id}, options)
