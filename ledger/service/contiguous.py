"""Rebuilding a record only from an unbroken run of its events.

eventsourcing's ``project_aggregate`` applies whatever events the store
returns. An event deleted from the events table outside the ledger leaves a
gap in its stream's versions (41 follows 39), and the record would be rebuilt
without it: a decision silently wrong (``verify`` names the missing event,
but serving would not ask). So every rebuild here goes through
:func:`contiguous_projection`, which applies the same events but refuses at
the first gap, naming the stream and the missing version; and the
application's repository (``construct_repository``, the library's extension
point) uses it wherever a caller would have used the library's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.application import Repository, project_aggregate
from eventsourcing.domain import CanSnapshotAggregate

from ledger.domain.errors import LedgerError


class EventMissing(LedgerError):
    """A stream's versions have a gap: an event was removed outside the ledger.

    500 over HTTP (the server's data is at fault), one line on the command line.
    """

    code = "tampered-events"


def contiguous_projection(aggregate: Any, events: Iterable[Any]) -> Any:
    """``project_aggregate``, refusing when a version is skipped (a snapshot may start the run)."""
    expected = None if aggregate is None else aggregate.version + 1
    for event in events:
        version = event.originator_version
        if expected is None and not isinstance(event, CanSnapshotAggregate):
            expected = 1  # a stream rebuilt from its events starts at version 1
        if expected is not None and version != expected:
            raise EventMissing(
                f"the events table has no row for version {expected} of stream "
                f"{event.originator_id} (the next stored is {version}): an event was removed "
                "outside the ledger; no decision is made from it; run `qp-ledger verify`"
            )
        aggregate = event.mutate(aggregate)
        expected = version + 1
    return aggregate


class ContiguousRepository(Repository[Any]):
    """The library's repository, rebuilding with :func:`contiguous_projection` by default."""

    def get(self, aggregate_id: Any, *, version: int | None = None, **kwargs: Any) -> Any:
        if kwargs.get("projector_func", project_aggregate) is project_aggregate:
            kwargs["projector_func"] = contiguous_projection
        return super().get(aggregate_id, version=version, **kwargs)
