"""A stream's story for people: each event with its position, recorded time, actor and reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger.domain.cases import CASE_EVENT_TYPES, case_stream_id
from ledger.domain.errors import NotFound
from ledger.domain.record import EVENT_TYPES, stream_id
from ledger.service.erasure import Erasure
from ledger.service.receipts import plain

#: Event attributes that are the envelope, not what the user recorded.
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


class History(Erasure):
    """A CCG's record and an HCAI case, event by event."""

    def history(
        self, ccg: str, scheme: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A CCG's events in order, with position, recorded time, actor, reason and fields."""
        self.check_subject(ccg, scheme)
        oid = stream_id(ccg, scheme)
        lte = None if limit is None else offset + limit
        events = list(self.events.get(oid, gt=offset or None, lte=lte))
        if not events:
            return []
        typed = {
            e.originator_version: EVENT_TYPES.get(type(e).__name__, type(e).__name__)
            for e in events
        }
        refs = self._refs(oid, typed)
        out = []
        for e, (words, erased) in zip(events, self.unseal(oid, events), strict=True):
            ref = refs[e.originator_version]
            out.append(
                {
                    "position": ref.position,
                    "recorded_at": ref.recorded_at,
                    "id": ref.id,
                    "version": e.originator_version,
                    "type": ref.type,
                    "actor": e.__dict__.get("actor"),
                    "reason": words.get("reason", e.__dict__.get("reason")),
                    "fields": _fields(e),
                    **({"erased": erased} if erased else {}),
                }
            )
        return out

    def case_history(self, ccg: str, scheme: str, case_id: str) -> dict[str, Any]:
        """An HCAI case as it stands and its whole story: reported, (re)assigned, withdrawn.

        Read under the CCG it was reported against (the one its commands name),
        so "whose case was it" has one place to look, with who made each call.
        """
        self.check_subject(ccg, scheme)
        case = self.load_case(scheme, case_id)
        if case is None or case.ccg != ccg:
            raise NotFound(
                f"case_id: no case {case_id!r} has been reported against {ccg} in {scheme}",
                field="case_id",
            )
        oid = case_stream_id(scheme, case_id)
        events = list(self.events.get(oid))
        names = {e.originator_version: CASE_EVENT_TYPES[type(e).__name__] for e in events}
        refs = self._refs(oid, names)
        unsealed = self.unseal(oid, events)
        return {
            "case_id": case.case_id,
            "scheme": scheme,
            "reported_against": case.ccg,
            "organism": case.organism,
            "specimen_date": case.specimen_date,
            "trust": case.trust,
            "assigned_to": case.assigned_to,
            "assigned_by": case.assigned_by,
            "pir_reference": case.pir_reference,
            "withdrawn": case.withdrawn,
            "events": [
                {
                    "position": refs[e.originator_version].position,
                    "recorded_at": refs[e.originator_version].recorded_at,
                    "id": refs[e.originator_version].id,
                    "version": e.originator_version,
                    "type": names[e.originator_version],
                    "actor": e.__dict__.get("actor"),
                    "reason": words.get("reason", e.__dict__.get("reason")),
                    "fields": _fields(e),
                    **({"erased": erased} if erased else {}),
                }
                for e, (words, erased) in zip(events, unsealed, strict=True)
            ],
        }

    def iter_history(self, ccg: str, scheme: str, page: int = 500) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            chunk = self.history(ccg, scheme, offset=offset, limit=page)
            yield from chunk
            if len(chunk) < page:
                return
            offset += page


def _fields(event: Any) -> dict[str, Any]:
    """What the user recorded in an event, as JSON values (no envelope, actor or reason)."""
    hidden = _ENVELOPE | {"actor", "reason"}
    return {k: plain(v) for k, v in event.__dict__.items() if k not in hidden}
