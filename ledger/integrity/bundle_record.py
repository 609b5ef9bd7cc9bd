"""From bundled leaves back to the engine's input, with no database.

An evidence bundle carries a CCG's record as canonical leaf bytes
(:mod:`ledger.integrity.leaf`); their payloads are the stored events exactly
as stored. This module turns them back into domain events with the same
transcoder the ledger stores them with, folds them into the record as the
ledger's repository does (from the events alone, never from a snapshot), and
builds the facts with :func:`ledger.record_facts.facts_from_record` — the
function the ledger itself uses — so the engine's re-run sees what the ledger
saw.

Only the record's own event topics (and, for the issue event, the
``DecisionIssued`` topic) are ever resolved: a bundle is untrusted input,
and a topic names a Python class to import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

from ledger.domain.clock import us_to_iso
from ledger.domain.determinations import CCGDeterminations
from ledger.domain.facts import EventRef, Facts
from ledger.domain.record import EVENT_TYPES, CCGPremiumRecord, event_id
from ledger.domain.record_facts import facts_from_record, typed_versions
from ledger.integrity.leaf import LeafEvent
from ledger.integrity.sealed import SealedTextAsDigest

RECORD_TOPICS = frozenset(get_topic(getattr(CCGPremiumRecord, name)) for name in EVENT_TYPES)
ISSUE_TOPIC = get_topic(CCGDeterminations.DecisionIssued)  # type: ignore[attr-defined]


class RecordError(ValueError):
    """A bundled event that cannot be read back as what it claims to be."""


def _mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    # As eventsourcing's Application registers them: the ledger stores events this way.
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), SealedTextAsDigest()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def _domain_event(mapper: Mapper[UUID], event: LeafEvent, topics: frozenset[str]) -> Any:
    if event.topic not in topics:
        raise RecordError(f"topic {event.topic!r} is not one of this record's event types")
    try:
        stored = StoredEvent(
            originator_id=UUID(event.stream_id),
            originator_version=event.version,
            topic=event.topic,
            state=event.payload,
        )
        return mapper.to_domain_event(stored)
    except Exception as e:  # an untrusted payload: any failure is "cannot be read"
        raise RecordError(
            f"payload cannot be read as {event.topic}: {type(e).__name__}: {e}"
        ) from None


def rebuild_facts(
    events: Sequence[LeafEvent], ccg: str, scheme: str, position: int, as_of: str | None
) -> Facts:
    """The facts known at ``position`` from versions 1..n of the record (already checked)."""
    mapper = _mapper()
    record: Any = None
    for event in events:
        domain_event = _domain_event(mapper, event, RECORD_TOPICS)
        if not isinstance(domain_event, CanMutateAggregate):
            raise RecordError(f"version {event.version} is not an event of the record")
        try:
            record = domain_event.mutate(record)
        except Exception as e:
            raise RecordError(
                f"version {event.version} cannot be applied to the record: {type(e).__name__}: {e}"
            ) from None
    if record is None:
        return Facts(ccg=ccg, scheme=scheme, position=position, as_of=as_of)
    if not isinstance(record, CCGPremiumRecord) or (record.ccg, record.scheme) != (ccg, scheme):
        raise RecordError(f"the events are not the record of {ccg} in {scheme}")
    by_version = {e.version: e for e in events}
    oid = UUID(events[0].stream_id)
    refs = {
        v: EventRef(
            id=event_id(oid, v),
            position=by_version[v].position,
            type=kind,
            recorded_at=us_to_iso(by_version[v].recorded_us),
        )
        for v, kind in typed_versions(record).items()
    }
    try:
        return facts_from_record(record, refs, position, as_of)
    except (KeyError, TypeError, ValueError) as e:
        raise RecordError(f"the record cannot give facts: {type(e).__name__}: {e}") from None


def issued(event: LeafEvent) -> dict[str, Any]:
    """What the ``DecisionIssued`` event recorded: issue id, document, position, actor."""
    found = _domain_event(_mapper(), event, frozenset({ISSUE_TOPIC}))
    try:
        return {
            "issue_id": found.issue_id,
            "document": found.document,
            "position": found.position,
            "actor": found.actor,
        }
    except AttributeError as e:
        raise RecordError(f"the issue event lacks a field: {e}") from None
