"""Issued decisions and appeals: one CCG's determinations in one scheme.

Issued decisions never change: later data leads to a new issue that names the
one it replaces. Appeals move through lodged -> (evidence) -> dismissed or
upheld; an upheld appeal's remedy is recorded as ordinary ledger events on the
CCG's record, followed by a revised issue that references the appeal. Keeping
these on their own stream (not the CCG's record) means issuing a decision
never changes the facts it was computed from.

An appeal's grounds, its evidence's text and the determination are people's
words, which may have to be erased: the service gives them here sealed (a
salted digest, ledger/integrity/sealed.py; events stored before sealing hold
the words themselves), and the state keeps whatever it was given. Nothing
here reads them; what people see is looked up by the event's version.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.errors import NotFound, RuleViolation
from ledger.domain.topics import pin_topics

DETERMINATIONS_NAMESPACE = uuid5(NAMESPACE_URL, "https://qp-ledger.invalid/determinations")
OUTCOMES = ("dismissed", "upheld")
DAY_US = 86_400 * 1_000_000


def determinations_id(ccg: str, scheme: str) -> UUID:
    return uuid5(DETERMINATIONS_NAMESPACE, f"{scheme}/{ccg}")


def _entry(
    entries: dict[str, dict[str, Any]], key: str, field: str, missing: str
) -> dict[str, Any]:
    """The entry under ``key``, or ``NotFound`` naming the field and the keys there are."""
    found = entries.get(key)
    if found is None:
        raise NotFound(f"{field}: {missing}", field=field, allowed=sorted(entries))
    return found


class CCGDeterminations(Aggregate):
    """The decisions issued to one CCG for one scheme, and its appeals against them."""

    @staticmethod
    def create_id(ccg: str, scheme: str, actor: str) -> UUID:
        return determinations_id(ccg, scheme)

    @event("Opened")
    def __init__(self, ccg: str, scheme: str, actor: str) -> None:
        self.ccg = ccg
        self.scheme = scheme
        #: issue id -> {document, position, recorded_us (filled on read), replaces, appeal}
        self.issued: dict[str, dict[str, Any]] = {}
        self.latest: str | None = None
        self.appeals: dict[str, dict[str, Any]] = {}

    def _next(self) -> int:
        return int(self.version) + 1

    # -- rules ------------------------------------------------------------------

    def issue_ref(self, issue_id: str) -> dict[str, Any]:
        missing = f"no decision {issue_id!r} was issued to {self.ccg} in {self.scheme}"
        return _entry(self.issued, issue_id, "issue_id", missing)

    def appeal_ref(self, appeal_id: str) -> dict[str, Any]:
        missing = f"{self.ccg} has no appeal {appeal_id!r} in {self.scheme}"
        return _entry(self.appeals, appeal_id, "appeal_id", missing)

    def check_can_appeal(
        self, issue_id: str, now_us: int, issued_us: int, window_days: int
    ) -> None:
        """An appeal must be lodged within the scheme's window, counted in recorded time."""
        issue = self.issue_ref(issue_id)
        if now_us > issued_us + window_days * DAY_US:
            superseded = " and has been superseded" if issue.get("superseded_by") else ""
            raise RuleViolation(
                f"issue_id: the appeal window of {window_days} days for {issue_id} has closed"
                f"{superseded}",
                field="issue_id",
            )
        for appeal in self.appeals.values():
            if appeal["issue_id"] == issue_id and appeal["status"] == "lodged":
                raise RuleViolation(
                    f"issue_id: appeal {appeal['appeal_id']} against {issue_id} is still open",
                    field="issue_id",
                )

    def check_open(self, appeal_id: str) -> dict[str, Any]:
        appeal = self.appeal_ref(appeal_id)
        if appeal["status"] != "lodged":
            raise RuleViolation(
                f"appeal_id: appeal {appeal_id} was already determined ({appeal['status']})",
                field="appeal_id",
            )
        return appeal

    def check_revision_allowed(self, appeal_id: str | None) -> None:
        if appeal_id is None:
            return
        appeal = self.appeal_ref(appeal_id)
        if appeal["status"] != "upheld":
            raise RuleViolation(
                f"appeal_id: a revised decision can only follow an upheld appeal; "
                f"{appeal_id} is {appeal['status']}",
                field="appeal_id",
            )
        if appeal.get("revised_by"):
            raise RuleViolation(
                f"appeal_id: appeal {appeal_id} already led to {appeal['revised_by']}",
                field="appeal_id",
            )

    # -- events -----------------------------------------------------------------

    @event("DecisionIssued")
    def issue_decision(
        self,
        issue_id: str,
        document: dict[str, Any],
        position: int,
        engine_version: str,
        inputs_digest: str,
        replaces: str | None,
        appeal_id: str | None,
        checkpoint: dict[str, Any] | None,
        actor: str,
        reason: str | None,
    ) -> None:
        self.issued[issue_id] = {
            "issue_id": issue_id,
            "document": document,
            "position": position,
            "replaces": replaces,
            "appeal_id": appeal_id,
            "superseded_by": None,
            "checkpoint": checkpoint,
            "version": self._next(),
            "actor": actor,
        }
        if replaces is not None:
            self.issued[replaces]["superseded_by"] = issue_id
        if appeal_id is not None:
            self.appeals[appeal_id]["revised_by"] = issue_id
        self.latest = issue_id

    @event("AppealLodged")
    def lodge_appeal(
        self,
        appeal_id: str,
        issue_id: str,
        grounds: Any,
        disputes: list[str],
        actor: str,
        reason: str | None,
    ) -> None:
        self.appeals[appeal_id] = {
            "appeal_id": appeal_id,
            "issue_id": issue_id,
            "grounds": grounds,
            "disputes": disputes,
            "status": "lodged",
            "evidence": [],
            "remedy": [],
            "determination": None,
            "revised_by": None,
            "version": self._next(),
            "actor": actor,
        }

    @event("AppealEvidenceAdded")
    def add_evidence(
        self,
        appeal_id: str,
        text: Any,
        attachments: list[dict[str, Any]],
        actor: str,
        reason: str | None,
    ) -> None:
        appeal = self.appeals[appeal_id]
        appeal["evidence"] = [
            *appeal["evidence"],
            {"text": text, "attachments": attachments, "version": self._next(), "actor": actor},
        ]

    @event("AppealDetermined")
    def determine_appeal(
        self,
        appeal_id: str,
        outcome: str,
        determination: Any,
        remedy_events: list[dict[str, Any]],
        actor: str,
        reason: str | None,
    ) -> None:
        appeal = self.appeals[appeal_id]
        appeal["status"] = outcome
        appeal["determination"] = determination
        appeal["determined_by"] = actor
        appeal["remedy"] = remedy_events
        appeal["determined_version"] = self._next()


pin_topics("ledger.determinations", CCGDeterminations)
