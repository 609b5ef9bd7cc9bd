"""Erasures: the record that some stored words were erased, and by whom, when and why.

The words of an event's erasable field live apart from the payload the log
commits to (ledger/integrity/sealed.py), so erasing them breaks no proof.
The erasure itself is a fact an auditor must be able to see -- history shows
the field as erased, by whom, when and why -- so it is an event, on a stream
of its own: erasing words never changes the facts a decision was computed
from, and no CCG record gains a version.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain.errors import RuleViolation
from ledger.domain.topics import pin_topics

ERASURES_ID = uuid5(NAMESPACE_URL, "https://qp-ledger.invalid/erasures")


class Erasures(Aggregate):
    """Every erasure in the ledger, keyed ``<event id>/<field>``."""

    @staticmethod
    def create_id(actor: str) -> UUID:
        return ERASURES_ID

    @event("Opened")
    def __init__(self, actor: str) -> None:
        self.erased: dict[str, dict[str, Any]] = {}

    def erasure(self, erased_event: str, field: str) -> dict[str, Any] | None:
        return self.erased.get(f"{erased_event}/{field}")

    def check_not_erased(self, erased_event: str, field: str) -> None:
        done = self.erasure(erased_event, field)
        if done is not None:
            raise RuleViolation(
                f"event_id: the {field} of event {erased_event} was already erased "
                f"by {done['actor']}",
                field="event_id",
            )

    @event("TextErased")
    def erase(
        self,
        erased_event: str,
        stream: str,
        stream_version: int,
        field: str,
        digest: str,
        actor: str,
        why: str,
    ) -> None:
        self.erased[f"{erased_event}/{field}"] = {
            "event_id": erased_event,
            "field": field,
            "digest": digest,
            "actor": actor,
            "why": why,
            "version": int(self.version) + 1,
        }


pin_topics("ledger.domain.erasures", Erasures)
