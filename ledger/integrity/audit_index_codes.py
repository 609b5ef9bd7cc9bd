"""``qp-ledger verify``: the position index against the index codes its writes stored.

The main pass compares each index row with its event (the leaf commits to
the recorded time); this pass checks what serving relies on instead of
re-hashing: that each row from the epoch on still matches the code written
with it (ledger/integrity/key_codes.py), so the checks on the read path
(ledger/adapters/index_codes.py) would not refuse a row ``verify`` passed.

* the epoch: exactly one row in ``<app>_index_codes_since``, and no code before it;
* every index row from the epoch on has a code that matches it;
* every code has an index row.

Without the key file only the pairing is checked; the report says so.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, select

from ledger.integrity.audit_epoch import checked_epoch, flag_orphan_codes
from ledger.integrity.audit_reads import PAGE, Cursors
from ledger.integrity.audit_report import AuditReport
from ledger.integrity.key_codes import index_row_matches


def audit_index_codes(
    conn: Connection,
    index: Table,
    codes: Table,
    since_table: Table,
    key: bytes | None,
    *,
    report: AuditReport,
) -> list[str]:
    """Flag each index row or code that disagrees; return notes for the report."""
    since = checked_epoch(conn, since_table, codes, report, "index codes")
    if since is None:
        return []
    bound, idx, ic = report.last_position, index.c, codes.c
    flag_orphan_codes(
        conn,
        codes,
        index,
        idx.position,
        report,
        "an index code with no index row at its position (row deleted, or code inserted?)",
    )
    query = (
        select(idx.position, idx.originator_id, idx.originator_version, idx.recorded_us, ic.mac)
        .outerjoin_from(index, codes, ic.position == idx.position)
        .where(idx.position >= since, idx.position <= bound)
        .order_by(idx.position)
    )
    cursors = Cursors(conn)
    try:
        cursor = cursors.run(query)
        while page := cursor.fetchmany(PAGE):
            for position, stream, version, recorded_us, mac in page:
                if mac is None:
                    what = "no index code was written for it (row inserted, or its code deleted?)"
                elif key is None or index_row_matches(
                    key, since, position, stream, version, recorded_us, mac
                ):
                    continue
                else:
                    what = "does not match its index code (time, stream or version edited?)"
                report.flag(position, None, what, table=index.name, row=f"position={position}")
    finally:
        cursors.close()
    if key is None:
        return [
            "index rows: checked for their index codes by presence only: without the key "
            "file (the snapshot key) no code can be recomputed"
        ]
    return []
