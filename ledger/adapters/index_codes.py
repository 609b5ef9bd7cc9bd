"""Index codes on the write path and on every read a decision makes from the index.

What a code covers is in ledger/integrity/key_codes.py. A decision "now" is
stamped with the head's recorded time, "as of T" finds its position by the
times and each event reference quotes a time: all index reads. An edited
time would be served as if it were the record, so each index row a read
relies on is checked against its code first, and a row that does not match
refuses the read (``IndexTampered``, naming the row), as the index guard
does for a row moved to another stream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from ledger.adapters.epoch import EpochCodes
from ledger.adapters.index_guard import IndexTampered
from ledger.adapters.snapshot_auth import SnapshotKey
from ledger.integrity.key_codes import (
    index_code,
    index_codes_since_table,
    index_codes_table,
    index_row_matches,
)

log = logging.getLogger(__name__)
_VERIFY = "no decision is made from it; run `qp-ledger verify`"


class IndexCodes(EpochCodes):
    """One recorder's index-code tables, their epoch and the key (shared with key codes)."""

    what = "index codes"
    tampered = IndexTampered
    unknown = "which index rows carry codes cannot be told, so no decision is made from them"

    def __init__(self, engine: Any, events_table_name: str, key: SnapshotKey) -> None:
        assert isinstance(engine, Engine)
        self.index_name = events_table_name.removesuffix("_events") + "_event_index"
        super().__init__(
            engine,
            index_codes_table(events_table_name),
            index_codes_since_table(events_table_name),
            events_table_name,
            key,
        )
        path = key.path
        if path is not None and not path.exists():
            with engine.connect() as conn:
                if conn.execute(select(self.table.c.position).limit(1)).first() is not None:
                    log.error(
                        "the key file %s is missing, but this database's index rows carry "
                        "codes made with a key: decisions reading them will be refused "
                        "(tampered-index) until the key file is restored from its backup",
                        path,
                    )

    def rows(
        self, conn: Connection | Session, index_rows: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The code row of each index row of a write."""
        key, since = self.write_key(), self.since(conn)
        return [
            {
                "position": r["position"],
                "mac": index_code(
                    key,
                    since,
                    r["position"],
                    r["originator_id"],
                    r["originator_version"],
                    r["recorded_us"],
                ),
            }
            for r in index_rows
        ]

    def check(self, conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
        """Refuse unless each ``(position, stream, version, recorded_us, code)`` row is vouched for.

        A row before the epoch was written before codes and has none; one
        from the epoch on must match its code. A code before the epoch means
        the epoch was moved on to hide rows from this check.
        """
        since, key = self.since(conn), None
        for position, stream, version, recorded_us, code in rows:
            where = f"{self.index_name} row (position={position})"
            if isinstance(position, int) and position < since:
                if code is not None:
                    raise IndexTampered(
                        f"{where} has an index code but is before the epoch {since} "
                        f"({self.since_table.name} edited?); {_VERIFY}"
                    )
                continue
            if code is None:
                raise IndexTampered(
                    f"{where}: no index code was written for it (row inserted, or its code "
                    f"deleted); {_VERIFY}"
                )
            key = key or self.key.get()
            if key is None:
                raise IndexTampered(
                    f"{where}: there is no key file ({self.key.path}) to check it with; {_VERIFY}"
                )
            if not index_row_matches(key, since, position, stream, version, recorded_us, code):
                raise IndexTampered(
                    f"{where}: does not match its index code (recorded time, stream or version "
                    f"edited); {_VERIFY}"
                )
