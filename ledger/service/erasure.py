"""Erasing an event's words (UK GDPR) without touching what the proofs cover.

Only words are erasable (``ERASABLE_FIELDS``: an event's ``reason``, an
appeal's ``grounds``, its evidence's ``text`` and the Board's
``determination``); the facts that decide money never are. The words of events stored since sealing
began live in the sealed-text table (ledger/adapters/sealing.py); erasing
deletes that row in the same transaction as the ``TextErased`` event that
says who erased it, when and why (ledger/domain/erasures.py). The payload
keeps the salted digest, so every leaf, proof, checkpoint, bundle and
decision stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger.domain.clock import us_to_iso
from ledger.domain.erasures import ERASURES_ID, Erasures
from ledger.domain.errors import InvalidCommand, LedgerError, NotFound, RuleViolation
from ledger.domain.record import event_id
from ledger.integrity.sealed import ERASABLE_FIELDS, SealedText
from ledger.service.core import LedgerCore

MAX_WHY = 1000


class SealedTextMissing(LedgerError):
    """An event's sealed words are gone with no erasure recorded: changed outside the ledger."""

    code = "tampered-sealed-text"


class Erasure(LedgerCore):
    """Erase sealed words; say what became of a sealed field."""

    def load_erasures(self) -> Erasures | None:
        try:
            erasures: Erasures = self.repository.get(ERASURES_ID)
        except AggregateNotFoundError:
            return None
        return erasures

    def erase(self, erased_event: str, field: str, why: str, actor: str) -> dict[str, Any]:
        """Erase one event's words for good; refuse anything else, changing nothing."""
        if field not in ERASABLE_FIELDS:
            raise InvalidCommand(
                f"field: {field!r} cannot be erased: only words are erasable "
                f"({', '.join(ERASABLE_FIELDS)}), never a fact a decision reads",
                field="field",
                allowed=list(ERASABLE_FIELDS),
            )
        if not isinstance(why, str) or not why.strip() or len(why) > MAX_WHY:
            raise InvalidCommand(
                f"why: say why the words are erased (1 to {MAX_WHY} characters)", field="why"
            )
        try:
            UUID(erased_event)
        except (TypeError, ValueError):
            raise InvalidCommand(
                f"event_id: {erased_event!r} is not an event id (a UUID from history)",
                field="event_id",
            ) from None
        erasures = self.load_erasures()
        if erasures is not None:
            erasures.check_not_erased(erased_event, field)
        row = self.log_store.sealed_field(erased_event, field)
        if row is None:
            raise NotFound(
                f"event_id: no stored {field} to erase for event {erased_event}: no such "
                f"event, it has no {field}, or it was recorded before words were sealed "
                "(its leaf commits to them, so they cannot be erased)",
                field="event_id",
            )
        if erasures is None:
            erasures = Erasures(actor=actor)
        erasures.erase(
            erased_event=erased_event,
            stream=str(row["originator_id"]),
            stream_version=int(row["originator_version"]),
            field=field,
            digest=str(row["digest"]),
            actor=actor,
            why=why,
        )
        try:
            recordings = self.save(erasures, erase=dict(row))
        except IntegrityError:
            # Another erasure of these words, or of others, got there first.
            self.forget(ERASURES_ID)
            raise RuleViolation(
                f"event_id: the erasures moved on meanwhile; check event {erased_event} "
                "and try again",
                field="event_id",
            ) from None
        position = recordings[-1].notification.id
        return {
            "event_id": erased_event,
            "field": field,
            "erased_by": actor,
            "erased_at": us_to_iso(
                self.log_store.recorded_us_written(position) or self._recorded_us(position)
            ),
            "why": why,
            "position": position,
        }

    def erased_fields(self, erasures: Erasures | None, erased_event: str) -> dict[str, Any]:
        """How each erased field of an event was erased: by, at, why (empty if none)."""
        out: dict[str, Any] = {}
        for field in ERASABLE_FIELDS:
            done = None if erasures is None else erasures.erasure(erased_event, field)
            if done is not None:
                ref = self._refs(ERASURES_ID, {done["version"]: "text_erased"})[done["version"]]
                out[field] = {"by": done["actor"], "at": ref.recorded_at, "why": done["why"]}
        return out

    def unseal(self, oid: UUID, events: list[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each event's words as people see them, and how any erased field was erased."""
        values = {
            (e.originator_version, f): e.__dict__[f] for e in events for f in _sealed_fields(e)
        }
        words, erased = self.unseal_fields(oid, values)
        return [
            (
                {f: words[(e.originator_version, f)] for f in _sealed_fields(e)},
                erased.get(e.originator_version, {}),
            )
            for e in events
        ]

    def unseal_fields(
        self, oid: UUID, values: Mapping[tuple[int, str], Any]
    ) -> tuple[dict[tuple[int, str], Any], dict[int, dict[str, Any]]]:
        """The words people see for a stream's (version, field) values, and the erasures.

        A :class:`SealedText` is looked up in the sealed-text table (one query for
        the stream); any other value (words stored before sealing, or none) is
        shown as it is. An erased field shows ``None``, and its event's version
        maps to how its fields were erased (by, at, why). Words gone with no
        erasure recorded raise :class:`SealedTextMissing`.
        """
        sealed = sorted(k for k, v in values.items() if isinstance(v, SealedText))
        texts = self.log_store.sealed_texts(str(oid), sealed[0][0], sealed[-1][0]) if sealed else {}
        words = {k: v for k, v in values.items() if not isinstance(v, SealedText)}
        erased: dict[int, dict[str, Any]] = {}
        erasures: Erasures | None = None
        looked = False
        for version, field in sealed:
            text = texts.get((version, field))
            words[(version, field)] = text
            if text is not None:
                continue
            if not looked:
                erasures, looked = self.load_erasures(), True
            eid = event_id(oid, version)
            if version not in erased:
                erased[version] = self.erased_fields(erasures, eid)
            if field not in erased[version]:
                raise SealedTextMissing(
                    f"the {field} of event {eid} (stream {oid} version {version}) is "
                    "missing from the sealed-text table and no erasure is recorded "
                    "(`qp-ledger verify` names the row)"
                )
        return words, erased


def _sealed_fields(event: Any) -> list[str]:
    return [f for f in ERASABLE_FIELDS if isinstance(event.__dict__.get(f), SealedText)]
