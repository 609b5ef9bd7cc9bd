"""The commands that tell an HCAI case's story (``ledger/domain/cases.py``).

``ccg`` is the patient's CCG of responsibility, which the case is reported
against. A case command changes the case's own stream (``apply_to_case``) and
then the records of the CCGs the assignment moves between (the ``CaseMove``
it returns says which), all saved together by the application.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, Self

from ledger.domain.cases import CASE_ID, HCAICase, assigned_ccg, check_trust, parse_assignee
from ledger.domain.commands.base import Command, envelope
from ledger.domain.commands.fields import one_of, shown, text
from ledger.domain.errors import InvalidCommand, RuleViolation
from ledger.domain.scheme import Scheme, schemes


@dataclass(frozen=True)
class CaseMove:
    """A case with its new event, and where its assignment went: the application
    ends the attribution on ``leaving``'s record and starts it on ``reaching``'s."""

    case: HCAICase
    #: The CCG the case was assigned to before, if a CCG.
    leaving: str | None = None
    #: The CCG it is assigned to now, if a CCG.
    reaching: str | None = None
    #: The new assignee (``ccg:…``, ``trust:…``, ``third-party``) or ``withdrawn``.
    now: str | None = None
    assigned_by: str | None = None
    pir_reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class CaseCommand(Command):
    """Only in a scheme that counts cases (``case_organisms``), and always about one case."""

    case_id: str

    def apply_to_case(self, case: HCAICase | None, actor: str, reason: str | None) -> CaseMove:
        """Check the rules that depend on the case as stored (``None``: never reported),
        then record the command as the case's event."""
        raise NotImplementedError

    def reported_case(self, case: HCAICase | None) -> HCAICase:
        """The case this command is about, reported already against the same CCG."""
        if case is None:
            raise RuleViolation(
                f"case_id: no case {self.case_id!r} has been reported in {self.scheme}; "
                f"send {ReportCase.type} first",
                field="case_id",
            )
        if case.ccg != self.ccg:
            raise RuleViolation(
                f"ccg: case {self.case_id!r} was reported against {case.ccg}, not {self.ccg}; "
                "its commands name the CCG it was reported against",
                field="ccg",
                allowed=[case.ccg],
            )
        return case


def _case_id(raw: dict[str, Any], scheme: Scheme) -> str:
    """The case the command is about, once the scheme is known to count cases."""
    if not scheme.case_organisms:
        counting = sorted(s.id for s in schemes().values() if s.case_organisms)
        raise RuleViolation(
            f"scheme: {scheme.id} takes submitted case counts; HCAI cases are recorded in "
            f"a scheme that counts them ({', '.join(counting)})",
            field="scheme",
            allowed=counting,
        )
    case_id = text(raw, "case_id")
    if not CASE_ID.match(case_id):
        raise InvalidCommand(
            f"case_id: {shown(case_id)} must be 1 to 64 letters, digits and . _ - "
            "(starting with a letter or digit)",
            field="case_id",
        )
    return str(case_id)


def _specimen_date(raw: dict[str, Any]) -> str:
    written = text(raw, "specimen_date")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", written):
            raise ValueError(written)
        datetime.date.fromisoformat(written)
    except ValueError:
        raise InvalidCommand(
            f"specimen_date: {shown(written)} is not a date (YYYY-MM-DD)", field="specimen_date"
        ) from None
    return str(written)


@dataclass(frozen=True, kw_only=True)
class ReportCase(CaseCommand):
    type = "hcai_case_reported"
    writer = "board"

    organism: str
    specimen_date: str
    trust: str

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        case_id = _case_id(raw, scheme)
        organism = one_of(
            raw, "organism", scheme.case_organisms, f"is not counted by {scheme.id}", written=shown
        )
        return cls(
            case_id=case_id,
            organism=organism,
            specimen_date=_specimen_date(raw),
            trust=check_trust(text(raw, "trust"), "trust"),
            **envelope(raw, scheme),
        )

    def apply_to_case(self, case: HCAICase | None, actor: str, reason: str | None) -> CaseMove:
        if case is not None:
            raise RuleViolation(
                f"case_id: case {self.case_id!r} was already reported in {self.scheme} (against "
                f"{case.ccg}, specimen {case.specimen_date} at {case.trust}); a case is "
                "reported once",
                field="case_id",
            )
        reported = HCAICase(
            scheme=self.scheme,
            case_id=self.case_id,
            organism=self.organism,
            specimen_date=self.specimen_date,
            trust=self.trust,
            ccg=self.ccg,
            actor=actor,
            reason=reason,
        )
        return CaseMove(reported)


@dataclass(frozen=True, kw_only=True)
class AssignCase(CaseCommand):
    type = "hcai_case_assigned"
    writer = "area-team"

    #: ``ccg:<code>``, ``trust:<ODS code>`` or ``third-party``.
    assigned_to: str
    assigned_by: str
    pir_reference: str

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(
            case_id=_case_id(raw, scheme),
            assigned_to=parse_assignee(text(raw, "assigned_to")),
            assigned_by=text(raw, "assigned_by"),
            pir_reference=text(raw, "pir_reference"),
            **envelope(raw, scheme),
        )

    def apply_to_case(self, case: HCAICase | None, actor: str, reason: str | None) -> CaseMove:
        case = self.reported_case(case)
        leaving = assigned_ccg(case.assigned_to)
        case.check_open("assigned")
        case.assign(self.assigned_to, self.assigned_by, self.pir_reference, actor, reason)
        return CaseMove(
            case,
            leaving,
            assigned_ccg(self.assigned_to),
            self.assigned_to,
            self.assigned_by,
            self.pir_reference,
        )


@dataclass(frozen=True, kw_only=True)
class WithdrawCase(CaseCommand):
    type = "hcai_case_withdrawn"
    writer = "board"

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(case_id=_case_id(raw, scheme), **envelope(raw, scheme))

    def apply_to_case(self, case: HCAICase | None, actor: str, reason: str | None) -> CaseMove:
        case = self.reported_case(case)
        leaving = assigned_ccg(case.assigned_to)
        case.check_open("withdrawn again")
        case.withdraw(actor, reason)
        return CaseMove(case, leaving, None, "withdrawn")
