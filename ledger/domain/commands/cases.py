"""The commands that tell an HCAI case's story (``ledger/domain/cases.py``).

``ccg`` is the patient's CCG of responsibility, which the case is reported
against. A case command changes the case's own stream and the records of the
CCGs the case moves between, so the application records it
(``QPLedger._execute_case``), not ``apply_to``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, Self

from ledger.domain.cases import CASE_ID, check_trust, parse_assignee
from ledger.domain.commands.base import Command, envelope
from ledger.domain.commands.fields import shown, text
from ledger.domain.errors import InvalidCommand, RuleViolation
from ledger.domain.scheme import Scheme, schemes


@dataclass(frozen=True, kw_only=True)
class CaseCommand(Command):
    """Only in a scheme that counts cases (``case_organisms``), and always about one case."""

    case_id: str


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

    organism: str
    specimen_date: str
    trust: str

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        case_id = _case_id(raw, scheme)
        organism = text(raw, "organism")
        if organism not in scheme.case_organisms:
            raise InvalidCommand(
                f"organism: {shown(organism)} is not counted by {scheme.id}",
                field="organism",
                allowed=list(scheme.case_organisms),
            )
        return cls(
            case_id=case_id,
            organism=organism,
            specimen_date=_specimen_date(raw),
            trust=check_trust(text(raw, "trust"), "trust"),
            **envelope(raw, scheme),
        )


@dataclass(frozen=True, kw_only=True)
class AssignCase(CaseCommand):
    type = "hcai_case_assigned"

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


@dataclass(frozen=True, kw_only=True)
class WithdrawCase(CaseCommand):
    type = "hcai_case_withdrawn"

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(case_id=_case_id(raw, scheme), **envelope(raw, scheme))


CASE_COMMANDS = (ReportCase, AssignCase, WithdrawCase)
