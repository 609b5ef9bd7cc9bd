"""Storing an event's erasable words apart from the payload the log commits to.

:class:`SealingMapper` is eventsourcing's ``Mapper`` (the application's
``construct_mapper`` extension point) with one change on the way to storage:
each erasable field (``ERASABLE_FIELDS``) is replaced in the stored payload
by its salted digest (:mod:`ledger.integrity.sealed`), and the salt and words
ride along on the stored event as ``SealedStoredEvent.sealed`` for the
recorder to write to the sealed-text table in the same transaction. Two ways:

* the ``reason`` of a CCG record's, an HCAI case's or an appeal's event is
  sealed here, as the event is stored (the aggregates never keep it);
* an appeal's ``grounds``, its evidence's ``text`` and the Board's
  ``determination`` are kept in the determinations aggregate's state, so
  the service seals them before the event is made (:func:`sealed_words`):
  the aggregate, and so its snapshots, hold only the digest, and the words
  reach this mapper on the value (``SealedText.opening``).

A ``DecisionIssued`` event's reason is left as it is: it is part of what an
evidence bundle carries. Reading back, the payload gives the event a
:class:`SealedText` in that field; what people see (history, appeals) looks
the words up by the event's stream, version and field (ledger/service/erasure.py).

Only new events are sealed: one stored with plaintext keeps it, because its
leaf commits to those bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from ledger.domain.cases import HCAICase
from ledger.domain.determinations import CCGDeterminations
from ledger.domain.record import CCGPremiumRecord, event_id
from ledger.integrity.sealed import ERASABLE_FIELDS, SALT_BYTES, SealedText, seal, sealing

#: Events whose plain ``reason`` is sealed as they are stored.
_SEALED_KINDS = (
    CCGPremiumRecord.Event,
    HCAICase.Event,
    CCGDeterminations.AppealLodged,  # type: ignore[attr-defined]
    CCGDeterminations.AppealEvidenceAdded,  # type: ignore[attr-defined]
    CCGDeterminations.AppealDetermined,  # type: ignore[attr-defined]
)
_BIG = BigInteger().with_variant(Integer(), "sqlite")


def sealed_table(events_table_name: str, metadata: MetaData | None = None) -> Table:
    """The words of sealed fields, one row per (event, field), deleted when erased."""
    name = events_table_name.removesuffix("_events") + "_sealed_text"
    return Table(
        name,
        metadata or MetaData(),
        Column("originator_id", String(36), primary_key=True),
        Column("originator_version", _BIG, primary_key=True, autoincrement=False),
        Column("field", String(32), primary_key=True),
        Column("event_id", String(36), nullable=False),
        Column("digest", String(71), nullable=False),
        Column("salt", String(32), nullable=False),
        Column("text", Text, nullable=False),
        Index(f"{name}_event", "event_id", "field", unique=True),
    )


@dataclass(frozen=True)
class SealedField:
    """One field's words and salt, to be stored beside the event (and erased from there)."""

    field: str
    digest: str
    salt: bytes
    text: str


@dataclass(frozen=True)
class SealedStoredEvent(StoredEvent):
    """A stored event whose payload holds digests, carrying the sealed fields' words."""

    sealed: tuple[SealedField, ...] = ()


class SealingMapper(Mapper[UUID]):
    """eventsourcing's mapper, sealing erasable fields: plain reasons, and words sealed already."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        sealed = []
        for field in ERASABLE_FIELDS:
            value = state.get(field)
            if isinstance(value, SealedText) and value.opening is not None:
                salt, text = value.opening
                state[field] = SealedText(value.digest)
                sealed.append(SealedField(field, value.digest, salt, text))
            elif (
                field == "reason"
                and isinstance(value, str)
                and value
                and isinstance(domain_event, _SEALED_KINDS)
            ):
                salt = new_salt()
                state[field] = sealed_text = seal(value, salt)
                sealed.append(SealedField(field, sealed_text.digest, salt, value))
        if not sealed:
            return super().to_stored_event(domain_event)
        clone = object.__new__(type(domain_event))
        object.__setattr__(clone, "__dict__", state)
        stored = super().to_stored_event(clone)
        return SealedStoredEvent(
            stored.originator_id,
            stored.originator_version,
            stored.topic,
            stored.state,
            sealed=tuple(sealed),
        )


def new_salt() -> bytes:
    """A fresh random salt per sealed field (tests pin it to compare two stores' bytes)."""
    return os.urandom(SALT_BYTES)


def sealed_words(text: str) -> SealedText:
    """Words to give an aggregate that keeps them: their digest, the words riding along."""
    return sealing(text, new_salt())


def sealed_rows(stored_events: Iterable[StoredEvent]) -> list[dict[str, Any]]:
    """The sealed-text table's rows for these events (none for events with no words)."""
    rows = []
    for stored in stored_events:
        for s in getattr(stored, "sealed", ()):
            oid = UUID(str(stored.originator_id))
            rows.append(
                {
                    "originator_id": str(oid),
                    "originator_version": stored.originator_version,
                    "field": s.field,
                    "event_id": event_id(oid, stored.originator_version),
                    "digest": s.digest,
                    "salt": s.salt.hex(),
                    "text": s.text,
                }
            )
    return rows


def unsealed(stored: StoredEvent) -> StoredEvent:
    """The stored event without the words it carries (what a store keeps in its events)."""
    if not isinstance(stored, SealedStoredEvent):
        return stored
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, stored.state)
