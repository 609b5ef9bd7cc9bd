"""A full rebuild's pass over the log: fold every event, decide only where a row needs it.

The incremental projectors decide after every event. Built from position 0,
the read models need much less: ``current``, ``components`` and the group
totals show only each CCG's last decision, and the timeline only the events
that moved a CCG's status or payable amount. So each event is decoded (the
application's mapper) and folded into its record (``event.mutate``, as the
repository does), and the engine runs

* after a CCG's first event (it always opens the timeline),
* after an event that changed a record entry the CCG's last decision read
  (:mod:`ledger.projections.reads`) -- if status or payable moved, that is
  a timeline row, with the full decision document the projector would have
  computed,
* once per CCG at the end, for its current decision.

An event that changed nothing the last decision read cannot move status or
payable, so the projector would have written no timeline row for it.
The result is the same rows the projectors build incrementally (and the same
``expected_rows`` that ``check`` computes by deciding after every event);
the tests compare them row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from ledger.domain.facts import Facts
from ledger.domain.record import CCGPremiumRecord
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import decide, inputs_digest
from ledger.projections.decisions import changed, timeline_row
from ledger.projections.folding import DecisionFolder
from ledger.projections.projection import EventInfo
from ledger.projections.reads import Snapshot, traced
from ledger.projections.scan import record_events
from ledger.service.application import QPLedger

Key = tuple[str, str]
#: How often (in events) the progress callback hears of the position.
PROGRESS_EVERY = 5000


@dataclass
class _Stream:
    key: Key
    events: int = 0
    #: (status, payable) after the stream's latest event.
    before: tuple[str, int] | None = None
    snapshot: Snapshot | None = None
    #: The record version and position of the last decision computed, and its document.
    decided: tuple[int, int] | None = None
    document: dict[str, Any] | None = None
    #: The facts of ``document`` while its digest is still to be computed.
    facts: Facts | None = None
    last: tuple[int, int] = (0, 0)


@dataclass
class FoldedLog:
    """What the read models show of the log up to ``position``."""

    position: int = 0
    events: int = 0
    latest: dict[Key, dict[str, Any]] = field(default_factory=dict)
    counts: dict[Key, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    decisions_computed: int = 0


def fold_log(
    ledger: QPLedger,
    upto: int,
    progress: Callable[[int], None] | None = None,
    *,
    timeline: bool = True,
) -> FoldedLog:
    """Fold the record events at positions 1..``upto`` and decide where a read model needs it.

    ``timeline=False`` (no read model being built shows every decision): the
    engine runs once per CCG, at the end, and ``timeline`` stays empty.
    """
    folder = DecisionFolder(ledger)
    mapper = ledger.mapper
    streams: dict[UUID, _Stream] = {}
    out = FoldedLog()
    for position, recorded_us, stored in record_events(ledger, 0, upto):
        event = cast(CCGPremiumRecord.Event, mapper.to_domain_event(stored))
        record = folder.fold(event, position, recorded_us)
        oid = record.id
        stream = streams.get(oid)
        if stream is None:
            stream = streams[oid] = _Stream((str(record.scheme), str(record.ccg)))
        stream.events += 1
        version = int(record.version)
        stream.last = (version, position)
        if timeline and (stream.snapshot is None or not stream.snapshot.unchanged(record)):
            document = _decide(folder, record, position, stream)
            out.decisions_computed += 1
            if changed(document, stream.before):
                _with_digest(stream)
                info = EventInfo(event, position, stream.key)
                out.timeline.append(timeline_row(document, info, stream.before))
            stream.before = (document["status"], document["payable_pence"])
        out.events += 1
        out.position = position
        if progress and out.events % PROGRESS_EVERY == 0:
            progress(position)
    for oid, stream in streams.items():
        if stream.decided == stream.last and stream.document is not None:
            document = _with_digest(stream)
        else:
            record = folder.record(oid)
            document = decide(
                get_scheme(record.scheme), folder.facts(record, stream.last[1])
            ).document
            out.decisions_computed += 1
        out.latest[stream.key] = document
        out.counts[stream.key] = stream.events
    return out


def _decide(
    folder: DecisionFolder, record: CCGPremiumRecord, position: int, stream: _Stream
) -> dict[str, Any]:
    """The decision after this event (without its digest), noting which record entries it read."""
    facts = folder.facts(record, position)
    traced_facts, reads = traced(facts, digest=False)
    document = decide(get_scheme(record.scheme), traced_facts).document
    stream.snapshot = Snapshot(record, reads)
    stream.decided = (int(record.version), position)
    stream.document, stream.facts = document, facts
    return document


def _with_digest(stream: _Stream) -> dict[str, Any]:
    """The stream's last decision, its ``inputs_digest`` computed as the engine does."""
    document, facts = stream.document, stream.facts
    assert document is not None
    if facts is not None:
        document["inputs_digest"] = inputs_digest(get_scheme(facts.scheme), facts)
        stream.facts = None
    return document
