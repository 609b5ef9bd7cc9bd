"""``qp-ledger verify``: idempotency rows against the key codes their writes stored.

What a code covers is in :mod:`ledger.integrity.key_codes`. Checked here,
after the main pass (the events are verified by then):

* the epoch: exactly one row in ``<app>_key_codes_since``;
* every event from the epoch on has a code, and every code an event;
* each code against the idempotency rows pointing at its position: a code
  for "no key" must have none; a code for a key exactly one, the one it was
  written for (so a row edited in any column, made up, re-pointed or
  swapped does not match, and a deleted one leaves a code with no row);
* every row from the epoch on points at a position with a code.

Without the key file only the shape is checked (a code for a key has one
row, a code for no key none); the report says so. Rows before the epoch
were written before codes existed: they are checked against the events only
(:mod:`ledger.integrity.audit_tables`), and the report says how many there are.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Table, func, select

from ledger.integrity.audit_epoch import checked_epoch, flag_orphan_codes
from ledger.integrity.audit_reads import PAGE, Cursors
from ledger.integrity.audit_report import AuditReport
from ledger.integrity.key_codes import (
    INT_COLUMNS,
    TEXT_COLUMNS,
    key_code,
    key_tag,
    row_matches,
    unkeyed_codes,
)

_COLUMNS = TEXT_COLUMNS + INT_COLUMNS


def audit_key_codes(
    conn: Connection,
    events: Table,
    idempotency: Table,
    codes: Table,
    since_table: Table,
    key: bytes | None,
    *,
    report: AuditReport,
) -> list[str]:
    """Flag each code or row that disagrees; return notes for the report (how rows were checked)."""
    bound = report.last_position
    since = checked_epoch(conn, since_table, codes, report, "key codes")
    if since is None:
        return []
    name = codes.name
    ev, kc, idem = events.c, codes.c, idempotency.c
    for (position,) in conn.execute(
        select(ev.id)
        .outerjoin_from(events, codes, kc.position == ev.id)
        .where(kc.position.is_(None), ev.id >= since, ev.id <= bound)
        .order_by(ev.id)
        .limit(100)
    ):
        report.flag(
            position,
            None,
            "missing: the event has no key code (deleted?)",
            table=name,
            row=f"position={position}",
        )
    flag_orphan_codes(
        conn, codes, events, ev.id, report, "a key code with no event at its position (inserted?)"
    )
    checked = _codes_against_rows(conn, codes, idempotency, since, bound, key, report)
    for actor, ikey, position in conn.execute(
        select(idem.actor, idem.key, idem.position)
        .outerjoin_from(idempotency, codes, kc.position == idem.position)
        .where(kc.position.is_(None), idem.position >= since)
        .order_by(idem.position)
        .limit(100)
    ):
        report.flag(
            position if isinstance(position, int) else None,
            None,
            "no key code at the position it points to (row inserted?)",
            table=idempotency.name,
            row=f"actor={actor!r:.60}, key={ikey!r:.60}",
        )
    legacy = conn.execute(
        select(func.count()).select_from(idempotency).where(idem.position < since)
    ).scalar()
    notes = []
    if key is None:
        notes.append(
            f"idempotency rows: {checked} checked against the key codes of their writes by "
            "shape only: without the key file (the snapshot key) no code can be recomputed"
        )
    if legacy:
        notes.append(
            f"idempotency rows: {legacy} written before key codes (positions before {since}) "
            "are checked against their events only"
        )
    return notes


def _codes_against_rows(
    conn: Connection,
    codes: Table,
    idempotency: Table,
    since: int,
    bound: int,
    key: bytes | None,
    report: AuditReport,
) -> int:
    """Each code (in position order) with the rows pointing at it; the rows that matched."""
    kc, idem = codes.c, idempotency.c
    query = (
        select(kc.position, kc.tag, kc.mac, *(idem[c] for c in _COLUMNS))
        .outerjoin_from(codes, idempotency, idem.position == kc.position)
        .where(kc.position >= since, kc.position <= bound)
        .order_by(kc.position, idem.actor, idem.key)
    )
    cursors = Cursors(conn)  # the driver's own, streaming: no SQLAlchemy row per event
    try:
        unkeyed = None if key is None else unkeyed_codes(key, since)
        matched = 0
        for position, tag, mac, pointing in _grouped(_rows(cursors.run(query))):
            if unkeyed is not None and tag is None and not pointing and _is(mac, unkeyed(position)):
                continue  # the common case: an event written without a key, no row points here
            matched += _check(position, tag, mac, pointing, since, key, codes, idempotency, report)
    finally:
        cursors.close()
    return matched


def _rows(cursor: Any) -> Iterator[Any]:
    while rows := cursor.fetchmany(PAGE):
        yield from rows


def _grouped(result: Any) -> Iterator[tuple[int, Any, Any, list[dict[str, Any]]]]:
    current: tuple[int, Any, Any, list[dict[str, Any]]] | None = None
    for row in result:
        if current is None or current[0] != row[0]:
            if current is not None:
                yield current
            current = (row[0], row[1], row[2], [])
        if row[3] is not None:  # actor: a row points here
            current[3].append(dict(zip(_COLUMNS, row[3:], strict=True)))
    if current is not None:
        yield current


def _check(
    position: int,
    tag: Any,
    mac: Any,
    pointing: list[dict[str, Any]],
    since: int,
    key: bytes | None,
    codes: Table,
    idempotency: Table,
    report: AuditReport,
) -> int:
    """Flag what disagrees at one position; 1 if the row written there matched its code."""

    def flag_row(row: dict[str, Any], what: str) -> None:
        report.flag(
            position,
            None,
            what,
            table=idempotency.name,
            row=f"actor={row['actor']!r:.60}, key={row['key']!r:.60}",
        )

    def flag_code(what: str) -> None:
        report.flag(position, None, what, table=codes.name, row=f"position={position}")

    if key is not None and tag is None and not _is(mac, key_code(key, since, position, None)):
        flag_code("does not match its event (the code was edited?)")
        return 0
    if tag is None:
        for row in pointing:
            flag_row(
                row,
                f"points at position {position}, whose write stored no key (made up "
                "or re-pointed?)",
            )
        return 0
    honest = None
    if key is None:
        honest = pointing[0] if len(pointing) == 1 else None
    else:
        for row in pointing:
            if row_matches(key, since, position, row, mac) and _is(
                tag, key_tag(key, row["actor"], row["key"])
            ):
                honest = row
    for row in pointing:
        if row is not honest:
            flag_row(
                row,
                f"does not match the key code of the write at position {position} "
                "(edited, made up or re-pointed?)",
            )
    if not pointing:
        report.flag(
            position,
            None,
            "missing: the key code of the write at this position says it stored an "
            "Idempotency-Key, but no row points here (deleted?)",
            table=idempotency.name,
            row=f"position={position}",
        )
    return 1 if honest is not None else 0


def _is(stored: Any, expected: bytes) -> bool:
    return isinstance(stored, bytes | bytearray | memoryview) and hmac.compare_digest(
        bytes(stored), expected
    )
