"""The Merkle log's two tables beside the events table, and the queries that join them to it.

``<app>`` is the events table name without ``_events``:

* ``<app>_event_hashes`` — one row per event: its position, its leaf index
  (rank in log order, dense from 0), its stream, the hash of its predecessor
  in the stream (the chain; empty for a stream's first event) and its leaf
  hash (RFC 9162 level 0);
* ``<app>_merkle_nodes`` — one row per complete subtree above the leaves,
  ``(level, idx) -> hash``, written once, when its last leaf arrives.

The writer (:class:`ledger.integrity.log.IntegrityLog`), the proofs
(:class:`ledger.integrity.nodes.StoredNodes`), the bundles and the audit all
read these through one definition, so a column cannot mean two things.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    SmallInteger,
    String,
    Table,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from ledger.integrity.leaf import encode_leaf, stream_text

_BIG = BigInteger().with_variant(Integer(), "sqlite")
_HASH = LargeBinary(32)

Reader = Connection | Session


class IntegrityTables:
    """The Merkle log tables of one application's events table."""

    def __init__(self, events: Table, metadata: MetaData | None = None) -> None:
        self.events = events
        base = events.name.removesuffix("_events")
        metadata = metadata or MetaData()
        leaves_name = f"{base}_event_hashes"
        self.leaves = Table(
            leaves_name,
            metadata,
            Column("position", _BIG, primary_key=True, autoincrement=False),
            Column("leaf_index", _BIG, nullable=False),
            Column("originator_id", String(36), nullable=False),
            Column("previous_hash", _HASH, nullable=False),
            Column("leaf_hash", _HASH, nullable=False),
            Index(f"{leaves_name}_leaf_index", "leaf_index", unique=True),
            Index(f"{leaves_name}_stream", "originator_id", "leaf_index"),
        )
        self.nodes = Table(
            f"{base}_merkle_nodes",
            metadata,
            Column("level", SmallInteger, primary_key=True, autoincrement=False),
            Column("idx", _BIG, primary_key=True, autoincrement=False),
            Column("hash", _HASH, nullable=False),
        )
        self.tables = [self.leaves, self.nodes]

    def stored_leaves(self, recorded: Table) -> Select[Any]:
        """Each event with its leaf index and what its canonical leaf is built from.

        One query for every reader that rebuilds leaves (proofs, bundles), so
        the columns and :func:`stored_leaf`'s order of them cannot drift apart.
        """
        ev, lv = self.events.c, self.leaves.c
        return (
            select(
                lv.leaf_index,
                ev.id,
                ev.originator_id,
                ev.originator_version,
                ev.topic,
                ev.state,
                recorded.c.recorded_us,
                lv.previous_hash,
            )
            .join_from(self.leaves, self.events, ev.id == lv.position)
            .join(recorded, recorded.c.position == lv.position)
        )

    def event_rows(self, recorded: Table, raw_ids: bool = False) -> Select[Any]:
        """Every event with its recorded time (None if its index row is gone), by position.

        ``raw_ids`` leaves stream ids as the driver returns them (a 16-byte
        value on SQLite, a UUID on PostgreSQL), skipping per-row conversion.
        """
        ev = self.events.c
        originator = type_coerce(ev.originator_id, NullType()) if raw_ids else ev.originator_id
        return select(
            ev.id,
            originator,
            ev.originator_version,
            ev.topic,
            ev.state,
            recorded.c.recorded_us,
        ).outerjoin_from(self.events, recorded, recorded.c.position == ev.id)


def stored_leaf(row: Any) -> bytes:
    """The canonical leaf of a :meth:`IntegrityTables.stored_leaves` row."""
    _, position, stream, version, topic, state, recorded_us, previous = row
    return encode_leaf(
        position, stream_text(stream), version, topic, recorded_us, bytes(previous), bytes(state)
    )
