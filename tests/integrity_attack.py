"""What an attacker with write access to the database can do to the Merkle log: rebuild it.

The ledger itself never hashes events it did not write (the write path
refuses with ``IntegrityLogBehind``); the tests use this to show that once
the events *and* every hash agree again, only a checkpoint published before,
or the signer's last signed head, can tell. Importable from any test
directory, like ledgerkit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Select

from ledger.adapters.recorder import LedgerRecorder
from ledger.integrity.log import IntegrityLogBehind
from ledger.integrity.tables import Reader

#: Events hashed per append (bounded memory at any size).
PAGE = 2000


def rebuild_log(store: LedgerRecorder) -> int:
    """Hash every event into the store's *empty* Merkle log, under the events-table lock.

    Returns how many events were hashed. Refuses a log that still has leaves,
    so a test that forgot to empty it fails instead of extending it.
    """
    log = store.integrity
    with store.transaction(commit=True) as session:
        store._lock_table(session)
        if log.tree_size(session):
            raise IntegrityLogBehind("the Merkle log is not empty; empty it before rebuilding")
        count = 0
        for page in _pages(session, log.event_rows(store.index), log.events.c.id):
            events = [
                StoredEvent(r.originator_id, r.originator_version, r.topic, bytes(r.state))
                for r in page
            ]
            if any(r.recorded_us is None for r in page):
                raise IntegrityLogBehind("an event has no recorded time")
            log.append(session, events, [r.id for r in page], [r.recorded_us for r in page])
            count += len(page)
    return count


def _pages(reader: Reader, query: Select[Any], key: Any) -> Iterator[Sequence[Any]]:
    """Rows of ``query`` in ``key`` order (``key`` selected first), a page at a time."""
    last = None
    while True:
        page_query = query if last is None else query.where(key > last)
        page = reader.execute(page_query.order_by(key).limit(PAGE)).all()
        if page:
            yield page
        if len(page) < PAGE:
            return
        last = page[-1][0]
