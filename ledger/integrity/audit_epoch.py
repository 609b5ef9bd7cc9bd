"""``qp-ledger verify``: what key codes and index codes share -- their epoch, and orphan codes.

Both code tables start at an epoch (ledger/adapters/epoch.py) and hold one
code per row of another table; the checks of each are in
:mod:`ledger.integrity.audit_keys` and :mod:`ledger.integrity.audit_index_codes`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func, select

from ledger.integrity.audit_report import AuditReport


def checked_epoch(
    conn: Connection, since_table: Table, codes: Table, report: AuditReport, what: str
) -> int | None:
    """The epoch, if exactly one row holds it; flags a code before it (the epoch moved on)."""
    rows = conn.execute(select(since_table.c.since)).scalars().all()
    if len(rows) != 1 or not isinstance(rows[0], int):
        report.flag(
            None,
            None,
            f"{len(rows)} rows, not 1: the {what}' epoch is unknown, so no {what[:-1]} "
            "can be checked (deleted or inserted?)",
            table=since_table.name,
            row=", ".join(f"since={r!r:.20}" for r in rows[:3]) or "none",
        )
        return None
    since = int(rows[0])
    earliest = conn.execute(select(func.min(codes.c.position))).scalar()
    if isinstance(earliest, int) and earliest < since:
        report.flag(
            None,
            None,
            f"the epoch is after the {what[:-1]} at position {earliest}, which it should "
            "precede (epoch edited?)",
            table=since_table.name,
            row=f"since={since}",
        )
    return since


def flag_orphan_codes(
    conn: Connection, codes: Table, rows: Table, column: Any, report: AuditReport, what: str
) -> None:
    """Flag each code with no row of ``rows`` at its position (``column``): ``what`` says why."""
    for (position,) in conn.execute(
        select(codes.c.position)
        .outerjoin_from(codes, rows, column == codes.c.position)
        .where(column.is_(None))
        .order_by(codes.c.position)
        .limit(100)
    ):
        report.flag(
            position if isinstance(position, int) else None,
            None,
            what,
            table=codes.name,
            row=f"position={position}",
        )
