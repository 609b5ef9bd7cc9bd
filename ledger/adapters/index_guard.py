"""The position index, checked against the events before a replay relies on it.

A replay finds a stream's version at a log position in ``<app>_event_index``
(an index lookup). The index is not what the proofs cover — the events are —
so one row moved to another stream (``originator_id`` edited) would make a
decision silently ignore an event. Before the version is used, the events
table is asked (two primary-key lookups) whether the stream's event of that
version is at the indexed position and its next event is after the point;
and whether the last event has its index row and the point is not beyond
it (the head is the index's last position); if not, the replay is refused
with an error that names the position.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter

from ledger.domain.errors import LedgerError

log = logging.getLogger(__name__)


class IndexTampered(LedgerError):
    """The index disagrees with the events: a replay would be wrong, so none is made.

    A ``LedgerError`` so the CLI says it in one line (exit 1) and the API as a
    problem document naming the row (500: the fault is the server's data, not
    the request), instead of a traceback.
    """

    code = "tampered-index"


def checked_stream_version(
    recorder: Any, originator_id: str, position: int, version: int | None
) -> int | None:
    """``version`` (the index's answer for the stream at ``position``) if the events agree."""
    oid = UUID(str(originator_id))
    current = 0 if version is None else int(version)
    checks = _checks(recorder, oid, str(oid), current)
    with recorder._connect() as conn:
        found = conn.execute(select(*checks)).one()
    return judged(recorder, oid, position, version, *found)


def _checks(recorder: Any, oid: Any, stream: Any, current: Any) -> list[Any]:
    """:func:`judged`'s arguments as scalar subqueries: where the events and the index put
    the stream's version ``current`` and the next, and the log's last event and its row."""
    ev, idx = recorder.events_record_cls.__table__.c, recorder.index.c
    event_at = (
        select(ev.id).where(ev.originator_id == oid, ev.originator_version == current)
    ).scalar_subquery()
    indexed_at = (
        select(idx.position).where(idx.originator_id == stream, idx.originator_version == current)
    ).scalar_subquery()
    next_at = (
        select(ev.id).where(ev.originator_id == oid, ev.originator_version == current + 1)
    ).scalar_subquery()
    last_event = select(func.max(ev.id)).scalar_subquery()
    last_indexed = (select(idx.position).where(idx.position == last_event)).scalar_subquery()
    return [event_at, indexed_at, next_at, last_event, last_indexed]


def guarded_version_statement(recorder: Any) -> Select[Any]:
    """The index lookup of ``stream_version_at`` and every check above, as one statement.

    Bind parameters: ``stream`` (the stream id as text, as in the index),
    ``uuid`` (the same, for the events table) and ``position``. Its row is the
    index's version (None: no row) followed by :func:`judged`'s arguments.
    """
    ev, idx = recorder.events_record_cls.__table__.c, recorder.index.c
    stream: BindParameter[str] = bindparam("stream")
    position: BindParameter[int] = bindparam("position")
    oid: BindParameter[Any] = bindparam("uuid", type_=ev.originator_id.type)
    version = (
        select(idx.originator_version)
        .where(idx.originator_id == stream, idx.position <= position)
        .order_by(idx.position.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(version, *_checks(recorder, oid, stream, func.coalesce(version, 0)))


def judged(
    recorder: Any,
    oid: UUID,
    position: int,
    version: int | None,
    event_position: int | None,
    index_position: int | None,
    next_position: int | None,
    last: int | None,
    last_indexed_at: int | None,
) -> int | None:
    """``version`` if what the events table says agrees with it; IndexTampered otherwise."""
    current = 0 if version is None else int(version)
    problem = None
    if last is not None and position > last:
        problem = (
            f"{recorder.index.name} row position={position}: the events end at position {last}"
        )
    elif last is not None and last_indexed_at is None:
        problem = f"{recorder.index.name} row position={last} (the last event's) is missing"
    elif next_position is not None and int(next_position) <= position:
        problem = (
            f"{recorder.index.name}: the event at position {int(next_position)} "
            f"(stream {oid}, version {current + 1}) has no index row in its stream"
        )
    elif current and (event_position is None or event_position != index_position):
        problem = (
            f"{recorder.index.name} row position={index_position}: stream {oid} version "
            f"{current} is at position {event_position} in the events"
        )
    if problem is not None:
        log.error("INDEX TAMPERED, replay refused: %s. Run `qp-ledger verify`.", problem)
        raise IndexTampered(f"the event index does not match the events: {problem}")
    return None if version is None else int(version)
