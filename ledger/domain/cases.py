"""Healthcare-associated infection cases: one stream per case (issue 14).

From April 2013 every MRSA bloodstream infection went through a
post-infection review (PIR) that assigned it to a CCG, an acute trust or a
third party, and an assignment could be challenged and changed. Zero
tolerance meant one case assigned to a CCG cost it the whole HCAI share.

A case is reported against the patient's CCG of responsibility but may end up
assigned anywhere, so it is not a fact of any one CCG's record: it has its own
stream, keyed by (scheme, case id), which holds the case's whole story —
reported, assigned, reassigned after challenge, withdrawn — and the rules
that depend on it (reported once, never reassigned once withdrawn).

The CCG a case is *assigned to* must see it in its decision, and a decision
(and an evidence bundle) reads one CCG's record only. So the same command
also records the attribution on that CCG's record (``HCAICaseAttributed``)
and, when the case moves away or is withdrawn, its end on the CCG it leaves
(``HCAICaseAttributionEnded``), all in one transaction, the CCG it leaves
first and the case's own event last. A replay at any position or time
therefore sees exactly the cases assigned to the CCG then; at a position
inside such a transaction a case moving between two CCGs may already have
left one and not yet reached the other, so it is never counted twice.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.ccgs import get_ccg
from ledger.domain.errors import InvalidCommand, RuleViolation, UnknownCCG
from ledger.domain.record import STREAM_NAMESPACE
from ledger.domain.topics import pin_topics

#: Command type -> stored event class name on the case's own stream.
CASE_EVENT_TYPES = {
    "CaseReported": "hcai_case_reported",
    "CaseAssigned": "hcai_case_assigned",
    "CaseWithdrawn": "hcai_case_withdrawn",
}
CASE_COMMANDS = tuple(CASE_EVENT_TYPES.values())

#: An ODS code of an NHS trust: R and two letters or digits (e.g. RWE, RX1). No
#: complete list of the 2013 trusts ships with the ledger, so any well-formed
#: code is accepted.
TRUST_CODE = re.compile(r"^R[A-Z0-9]{2}$")
#: Case ids come from the reporting system; they name a stream (and a URL path segment),
#: never a state key.
CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
THIRD_PARTY = "third-party"


def case_stream_id(scheme: str, case_id: str) -> UUID:
    return uuid5(STREAM_NAMESPACE, f"{scheme}/hcai-case/{case_id}")


def check_trust(code: str, field: str) -> str:
    if not TRUST_CODE.match(code):
        raise InvalidCommand(
            f"{field}: {code!r} is not an ODS trust code (R followed by two capital "
            "letters or digits, e.g. RWE)",
            field=field,
        )
    return code


def parse_assignee(text: str, field: str = "assigned_to") -> str:
    """``ccg:<code>`` (a CCG of April 2013), ``trust:<ODS code>`` or ``third-party``."""
    if text == THIRD_PARTY:
        return text
    kind, _, code = text.partition(":")
    if kind == "ccg":
        if get_ccg(code) is None:
            raise UnknownCCG(
                f"{field}: {code!r} is not a CCG of April 2013, so a case cannot be assigned to it",
                field=field,
            )
        return text
    if kind == "trust":
        check_trust(code, field)
        return text
    raise InvalidCommand(
        f"{field}: {text!r} must be ccg:<code>, trust:<ODS code> or third-party",
        field=field,
        allowed=["ccg:<code>", "trust:<code>", THIRD_PARTY],
    )


def assigned_ccg(assignee: str | None) -> str | None:
    """The CCG an assignee names, if it names one."""
    if assignee is not None and assignee.startswith("ccg:"):
        return assignee[4:]
    return None


class HCAICase(Aggregate):
    """One reported case: who it is assigned to now, and whether it was withdrawn."""

    @staticmethod
    def create_id(scheme: str, case_id: str) -> UUID:
        # eventsourcing passes create_id only the __init__ arguments it names.
        return case_stream_id(scheme, case_id)

    @event("CaseReported")
    def __init__(
        self,
        scheme: str,
        case_id: str,
        organism: str,
        specimen_date: str,
        trust: str,
        ccg: str,
        actor: str,
        reason: str | None,
    ) -> None:
        self.scheme = scheme
        self.case_id = case_id
        self.organism = organism
        self.specimen_date = specimen_date
        self.trust = trust
        #: The patient's CCG of responsibility, which the case was reported against.
        self.ccg = ccg
        self.assigned_to: str | None = None
        self.assigned_by: str | None = None
        self.pir_reference: str | None = None
        self.withdrawn = False

    def check_open(self, what: str) -> None:
        if self.withdrawn:
            raise RuleViolation(
                f"case_id: case {self.case_id!r} was withdrawn; it cannot be {what}",
                field="case_id",
            )

    @event("CaseAssigned")
    def assign(
        self,
        assigned_to: str,
        assigned_by: str,
        pir_reference: str,
        actor: str,
        reason: str | None,
    ) -> None:
        self.assigned_to = assigned_to
        self.assigned_by = assigned_by
        self.pir_reference = pir_reference

    @event("CaseWithdrawn")
    def withdraw(self, actor: str, reason: str | None) -> None:
        self.withdrawn = True

    def attribution(self) -> dict[str, Any]:
        """What the assigned CCG's record keeps about the case."""
        return {
            "case_id": self.case_id,
            "organism": self.organism,
            "specimen_date": self.specimen_date,
            "trust": self.trust,
            "responsible_ccg": self.ccg,
            "assigned_by": self.assigned_by,
            "pir_reference": self.pir_reference,
        }


pin_topics("ledger.cases", HCAICase)
