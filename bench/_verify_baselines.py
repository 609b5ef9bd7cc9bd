"""The floors verify is measured against: the same rows read raw, the same leaves hashed raw.

A ratio to these says how much of verify's time is the reading and hashing
no verifier can avoid, and how much is its own work, on whatever machine
and load the run had.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import func, select

from ledger.integrity.audit import event_query
from ledger.integrity.audit_reads import PAGE, Cursors
from ledger.integrity.leaf import encode_leaf, stream_text
from ledger.service.application import QPLedger


def leaf_bytes(ledger: QPLedger) -> list[bytes]:
    """Every event's canonical leaf, rebuilt from its row (previous hash from the chain)."""
    store = ledger.store
    log = store.integrity
    lv = log.leaves.c
    query = log.event_rows(store.index).add_columns(lv.previous_hash)
    query = query.join(log.leaves, lv.position == log.events.c.id).order_by(log.events.c.id)
    out = []
    with store.datastore.engine.connect() as conn:
        for row in conn.execute(query):
            position, stream, version, topic, state, recorded, previous = row
            out.append(
                encode_leaf(
                    position,
                    stream_text(stream),
                    version,
                    topic,
                    recorded,
                    bytes(previous),
                    bytes(state),
                )
            )
    return out


def raw_read(ledger: QPLedger) -> int:
    """A raw driver read of the rows the audit reads: its event query and every stored node.

    The same statement, the same driver cursor (server-side on PostgreSQL) and
    page size, nothing done with the rows: the floor for a verifier that must
    read them from this database.
    """
    store = ledger.store
    with store.datastore.engine.connect() as conn:
        cursors = Cursors(conn)
        try:
            bound = conn.execute(select(func.max(store.integrity.events.c.id))).scalar() or 0
            rows = 0
            for query in (
                event_query(store.integrity, store.index, bound, cursors.server_side),
                select(store.integrity.nodes.c.idx, store.integrity.nodes.c.hash).order_by(
                    store.integrity.nodes.c.level, store.integrity.nodes.c.idx
                ),
            ):
                cursor = cursors.run(query)
                while page := cursor.fetchmany(PAGE):
                    rows += len(page)
        finally:
            cursors.close()
    return rows


def raw_read_all(ledger: QPLedger) -> int:
    """``raw_read`` plus every row of every other table ``qp-ledger verify`` checks, once:
    the baseline for the whole command (index, idempotency, key codes, sealed words,
    snapshots)."""
    rows = raw_read(ledger)
    store = ledger.store
    tables = [store.index, store.idempotency, store.key_codes.table, store.sealed]
    snapshots = getattr(ledger.snapshots, "recorder", None)
    if snapshots is not None:
        tables.append(snapshots.events_record_cls.__table__)
    with store.datastore.engine.connect() as conn:
        cursors = Cursors(conn)
        try:
            for table in tables:
                cursor = cursors.run(select(table))
                while page := cursor.fetchmany(PAGE):
                    rows += len(page)
        finally:
            cursors.close()
    return rows


def raw_hashing(leaves: Sequence[bytes]) -> None:
    sha256 = hashlib.sha256
    for leaf in leaves:
        sha256(leaf).digest()
