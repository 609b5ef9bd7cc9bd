"""What every read model's projection shares: topics, batches, dispatch on the event.

A projection turns one event (with its tracking object) into writes on its
view. All three read models are functions of the decision after each event,
so the dispatch is: an event of a CCG's record -> the decision after it
(``DecisionFolder``) -> ``show(decision, ...)``, which each read model
implements. Anything else (never delivered, given the topic filter) only
moves the tracking position on.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger.domain.record import EVENT_TYPES, CCGPremiumRecord, event_id
from ledger.projections.folding import DecisionFolder
from ledger.projections.source import RECORD_TOPICS
from ledger.projections.view import ReadModelView

TView = TypeVar("TView", bound=ReadModelView)

#: What a batch holds: each event with the tracking object of its log position.
Item = tuple[Any, Tracking]


class HasDocument(Protocol):
    """A decision (``ledger.engine.decide.Decision``) or one computed on demand."""

    @property
    def document(self) -> dict[str, Any]: ...


class ReadModelProjection(Projection[TView]):
    """Base of the read models' projections (decisions, summaries, attainment)."""

    topics: tuple[str, ...] = RECORD_TOPICS
    view_class: ClassVar[type[ReadModelView]]
    #: True when every event's decision is shown (a timeline); False when only
    #: the last one per CCG in a batch matters, so the others are never computed.
    every_decision: ClassVar[bool] = True

    def __init__(self, view: TView, *, folder: DecisionFolder) -> None:
        super().__init__(view)
        self.folder = folder

    def process_batch(self, items: Sequence[Item], previous: int | None) -> None:
        """Apply a run of consecutive events in one transaction with one tracking record.

        ``previous`` is the position the projector continued from; if the
        stored position is not that any more, nothing is written
        (``TrackingConflict``) -- that is the exactly-once guarantee.
        """
        self.folder.prepare(tracking.notification_id for _, tracking in items)
        with self.view.batch(previous):
            for domain_event, tracking in items:
                self.process_event(domain_event, tracking)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """An event no read model shows: just move the position on."""
        self.view.insert_tracking(tracking)

    @process_event.register
    def record_changed(self, domain_event: CCGPremiumRecord.Event, tracking: Tracking) -> None:
        """Any fact about a CCG may change its decision: recompute it, then show it."""
        position = tracking.notification_id
        decision: HasDocument
        if self.every_decision:
            decision = self.folder.decision_after(domain_event, position)
            key = (decision.document["scheme"], decision.document["ccg"])
        else:
            deferred = self.folder.deferred(domain_event, position)
            decision, key = deferred, deferred.key
        self.show(decision, EventInfo.of(domain_event, tracking, key), tracking)

    @abstractmethod
    def show(self, decision: HasDocument, event: EventInfo, tracking: Tracking) -> None:
        """Write what this read model shows of the decision after the event."""


class EventInfo:
    """The event that caused a decision: contract type, stable id, position, (scheme, CCG)."""

    __slots__ = ("_event", "_id", "key", "position")

    def __init__(self, event: CCGPremiumRecord.Event, position: int, key: tuple[str, str]) -> None:
        self._event = event
        self._id: str | None = None
        self.position = position
        self.key = key

    @classmethod
    def of(
        cls, domain_event: CCGPremiumRecord.Event, tracking: Tracking, key: tuple[str, str]
    ) -> EventInfo:
        return cls(domain_event, tracking.notification_id, key)

    @property
    def type(self) -> str:
        name = type(self._event).__name__
        return EVENT_TYPES.get(name, name)

    @property
    def id(self) -> str:
        # Derived on first use: only the timeline needs it.
        if self._id is None:
            e = self._event
            self._id = event_id(e.originator_id, int(e.originator_version))
        return self._id


@dataclass(frozen=True)
class Pending:
    """A CCG's decision after one event, waiting for the batch to end."""

    key: tuple[str, str]
    decision: HasDocument


def latest_members(
    writes: Sequence[Pending], row: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[tuple[dict[str, Any], int]]:
    """Each CCG's row from its last decision in the batch, with how many events it took."""
    latest: dict[tuple[str, str], Pending] = {}
    counts: dict[tuple[str, str], int] = {}
    for pending in writes:
        latest[pending.key] = pending
        counts[pending.key] = counts.get(pending.key, 0) + 1
    return [(row(p.decision.document), counts[k]) for k, p in latest.items()]
