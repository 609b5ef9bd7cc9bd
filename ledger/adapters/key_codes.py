"""Key codes on the write and retry paths (what they cover: ledger/integrity/key_codes.py).

Every write stores one code per event, in its transaction; a retry with an
Idempotency-Key uses the stored row only if the code at its position says
that row was written there, and refuses (naming the row) when the row was
edited, inserted, re-pointed or deleted — never a wrong receipt, never a
second write for a key whose row is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, literal, select
from sqlalchemy.orm import Session

from ledger.adapters.epoch import EpochCodes
from ledger.adapters.snapshot_auth import SnapshotKey, snapshot_key_file
from ledger.domain.errors import LedgerError
from ledger.integrity.key_codes import (
    key_code,
    key_codes_since_table,
    key_codes_table,
    key_tag,
    row_matches,
)

log = logging.getLogger(__name__)


class IdempotencyTampered(LedgerError):
    """An idempotency row disagrees with its key code: no answer is made from it.

    500 over HTTP (the server's data is at fault), one line on the command line.
    """

    code = "tampered-idempotency"


class KeyCodes(EpochCodes):
    """One recorder's key-code tables, its epoch and the key (the snapshot key file)."""

    what = "key codes"
    tampered = IdempotencyTampered
    unknown = "which writes stored an Idempotency-Key cannot be told"

    def __init__(self, engine: Any, events_table_name: str, idempotency: Table) -> None:
        assert isinstance(engine, Engine)
        self.idempotency = idempotency
        url = engine.url
        in_memory = url.database in (None, "", ":memory:")
        # The snapshot store's key file (a key of its own, per process, for a database in memory).
        key = SnapshotKey(
            None if in_memory else snapshot_key_file(url.render_as_string(hide_password=False))
        )
        super().__init__(
            engine,
            key_codes_table(events_table_name),
            key_codes_since_table(events_table_name),
            events_table_name,
            key,
        )

    def rows(
        self, conn: Connection | Session, index_rows: Sequence[Mapping[str, Any]], keyed: Any
    ) -> list[dict[str, Any]]:
        """The code row of each event of a write (``keyed``: its idempotency row, or None)."""
        key, since = self.write_key(), self.since(conn)
        out = []
        for index_row in index_rows:
            position = int(index_row["position"])
            row = keyed if keyed is not None and int(keyed["position"]) == position else None
            out.append(
                {
                    "position": position,
                    "tag": None if row is None else key_tag(key, row["actor"], row["key"]),
                    "mac": key_code(key, since, position, row),
                }
            )
        return out

    def checked_row(self, conn: Connection, actor: str, key: str) -> Mapping[str, Any] | None:
        """The idempotency row of (actor, key) if its code vouches for it; None if no write.

        One statement: the row, and the code its tag finds. A row from before
        the epoch (written before codes) is used as it is.
        """
        secret = self.key.get()
        idem, codes = self.idempotency, self.table.c
        tag = b"" if secret is None else key_tag(secret, actor, key)
        one = select(literal(1).label("one")).subquery()
        found = (
            conn.execute(
                select(
                    codes.position.label("code_position"), codes.mac.label("code_mac"), *idem.c
                ).select_from(
                    one.outerjoin(self.table, codes.tag == tag).outerjoin(
                        idem, (idem.c.actor == actor) & (idem.c.key == key)
                    )
                )
            )
            .mappings()
            .one()
        )
        where = f"{idem.name} row (actor={actor!r:.60}, key={key!r:.60})"
        position = found["code_position"]
        row = None if found["actor"] is None else {c: found[c] for c in idem.c.keys()}  # noqa: SIM118 - column names
        if position is None:  # no code for this key: a new write, or a row from before codes
            if row is not None and _after(row["position"], self.since(conn)):
                why = (
                    "there is no key file to check it with"
                    if secret is None
                    else ("no key code was written for it (inserted, or its code deleted)")
                )
                raise IdempotencyTampered(f"{where}: {why}; {_NO_ANSWER}")
            return row
        if row is None:
            raise IdempotencyTampered(
                f"{where}: missing, but the key code at position {position} says this key's "
                f"write was stored there (row deleted?): the write is not repeated; {_VERIFY}"
            )
        assert secret is not None
        if row["position"] != position or not row_matches(
            secret, self.since(conn), int(position), row, found["code_mac"]
        ):
            raise IdempotencyTampered(
                f"{where}: does not match the key code of its write (position {position}): "
                f"edited or re-pointed; {_NO_ANSWER}"
            )
        return row


_VERIFY = "run `qp-ledger verify`"
_NO_ANSWER = f"no answer is made from it; {_VERIFY}"


def _after(position: Any, since: int) -> bool:
    return not isinstance(position, int) or position >= since
