"""``qp-ledger verify`` for sealed words: the table the proofs do not cover, against them.

An event's payload holds the salted digest of each erasable field
(ledger/integrity/sealed.py); the words and salt live in the sealed-text
table, which an erasure may delete from. So every row must open its event's
seal (the digest of its salt and words is the one in the verified payload),
and every sealed field must have its row -- or an erasure event, in the
verified log, naming that event, field and digest. Anything else was done
outside the ledger: words edited, a row inserted, or one deleted with no
erasure recorded. Each problem names the table and the row's key.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Table, func, select

from ledger.domain.erasures import ERASURES_ID
from ledger.domain.record import event_id
from ledger.integrity.audit_report import AuditReport
from ledger.integrity.audit_tables import Decode
from ledger.integrity.sealed import ERASABLE_FIELDS, SealedText, opens

_MARK = b'"sealed_text"'


def audit_sealed(
    conn: Connection, events: Table, sealed: Table, decode: Decode, *, report: AuditReport
) -> None:
    """Add a problem to ``report`` for each sealed-text row (or missing row) the events deny."""
    bound = report.last_position
    ev = events.c
    expected: dict[tuple[str, int, str], str] = {}
    erased: dict[tuple[str, str], str] = {}
    # Only payloads that seal something are decoded (SQLite's LIKE does not read blobs).
    marked = (
        func.instr(ev.state, _MARK) > 0
        if conn.dialect.name == "sqlite"
        else ev.state.contains(_MARK)
    )
    query = select(ev.originator_id, ev.originator_version, ev.topic, ev.state).where(
        ev.id <= bound, marked
    )
    for oid, version, topic, state in conn.execute(query):
        stream = str(oid if isinstance(oid, UUID) else UUID(str(oid)))
        event = decode(oid, int(version), topic, bytes(state))
        for field in ERASABLE_FIELDS:
            value = event.__dict__.get(field)
            if isinstance(value, SealedText):
                expected[(stream, int(version), field)] = value.digest
    for oid, version, topic, state in conn.execute(
        select(ev.originator_id, ev.originator_version, ev.topic, ev.state).where(
            ev.id <= bound, ev.originator_id == ERASURES_ID
        )
    ):
        event = decode(oid, int(version), topic, bytes(state))
        if type(event).__name__ == "TextErased":
            erased[(event.erased_event, event.field)] = event.digest
    table = sealed.name
    for row in conn.execute(select(sealed)).mappings():
        key = (str(row["originator_id"]), int(row["originator_version"]), str(row["field"]))
        name = f"stream={key[0]}, version={key[1]}, field={key[2]}"
        digest = expected.pop(key, None)
        if digest is None:
            what = "no event in the log seals this field (inserted outside the ledger)"
        elif row["digest"] != digest:
            what = f"its digest is not the one the event's payload holds ({digest})"
        elif row["event_id"] != event_id(UUID(key[0]), key[1]):
            what = f"its event_id {row['event_id']} is not the id of the event it is beside"
        elif not _opens(digest, row["salt"], row["text"]):
            what = "its salt and words do not give the event's digest (edited)"
        elif (row["event_id"], key[2]) in erased:
            what = "its erasure is recorded but the words are still stored"
        else:
            continue
        report.flag(None, None, what, table=table, row=name)
    for (stream, version, field), digest in sorted(expected.items()):
        eid = event_id(UUID(stream), version)
        if erased.get((eid, field)) == digest:
            continue
        report.flag(
            None,
            None,
            f"the words of event {eid} are missing and no erasure is recorded "
            "(deleted outside the ledger)",
            table=table,
            row=f"stream={stream}, version={version}, field={field}",
        )


def _opens(digest: str, salt: Any, text: Any) -> bool:
    try:
        return opens(SealedText(digest), bytes.fromhex(str(salt)), str(text))
    except ValueError:
        return False
