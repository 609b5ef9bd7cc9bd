"""One streaming read of the record events of the log, with their recorded times.

The library's ``select_notifications`` reads a page at a time through the
ORM, and the recorded time of each event is another query on the ledger's
index. A rebuild reads the whole log once, so here it is one SQLAlchemy Core
query on the recorder's own tables (events joined to the index), streamed
with a server-side cursor (``yield_per``), each row turned into the
library's ``StoredEvent`` for the application's mapper to decode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ledger.projections.source import RECORD_TOPICS
from ledger.service.application import QPLedger

#: Rows fetched from the server-side cursor at a time.
STREAM_ROWS = 2000


def log_head(ledger: QPLedger) -> int:
    """The last position of the record events (0 when there is none)."""
    events = _events_table(ledger)
    with _engine(ledger).connect() as conn:
        found = conn.execute(
            select(func.max(events.c.id)).where(events.c.topic.in_(RECORD_TOPICS))
        ).scalar()
    return int(found or 0)


def record_events(
    ledger: QPLedger, after: int, upto: int
) -> Iterator[tuple[int, int, StoredEvent]]:
    """``(position, recorded_us, stored event)`` of each record event in (after, upto], in order."""
    events = _events_table(ledger)
    store = ledger.store
    index, codes = store.index, store.index_codes
    query = (
        select(
            events.c.id,
            index.c.recorded_us,
            events.c.originator_id,
            events.c.originator_version,
            events.c.topic,
            events.c.state,
            index.c.originator_id,
            index.c.originator_version,
            codes.table.c.mac,
        )
        .join(index, index.c.position == events.c.id)
        .outerjoin(codes.table, codes.table.c.position == index.c.position)
        .where(events.c.id > after, events.c.id <= upto, events.c.topic.in_(RECORD_TOPICS))
        .order_by(events.c.id)
    )
    with _engine(ledger).connect() as conn:
        result = conn.execution_options(yield_per=STREAM_ROWS).execute(query)
        for position, recorded_us, oid, version, topic, state, *indexed in result:
            # The time is checked against its index code: the read model quotes it.
            codes.check(conn, [(position, indexed[0], indexed[1], recorded_us, indexed[2])])
            yield (
                position,
                recorded_us,
                StoredEvent(
                    originator_id=oid,
                    originator_version=version,
                    topic=topic,
                    state=bytes(state),
                ),
            )


def _events_table(ledger: QPLedger) -> Any:
    return ledger.recorder.events_record_cls.__table__  # type: ignore[attr-defined]


def _engine(ledger: QPLedger) -> Engine:
    engine = ledger.store.datastore.engine
    assert isinstance(engine, Engine)
    return engine
