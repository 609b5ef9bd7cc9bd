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

import hashlib
import hmac
import json
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, LargeBinary, String, Table, cast, func, select, type_coerce

from ledger.domain.erasures import ERASURES_ID
from ledger.domain.record import event_id
from ledger.integrity.audit_reads import PAGE
from ledger.integrity.audit_report import AuditReport
from ledger.integrity.audit_tables import Decode
from ledger.integrity.sealed import ERASABLE_FIELDS, SEAL_DOMAIN, SealedTextAsDigest

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
    # Streams as 32 hex digits, read as text (PostgreSQL) or the stored 16 bytes
    # (SQLite): no UUID objects per row.
    sqlite = conn.dialect.name == "sqlite"
    stream_column = (
        type_coerce(ev.originator_id, LargeBinary) if sqlite else cast(ev.originator_id, String)
    )
    query = select(stream_column, ev.originator_version, ev.state).where(ev.id <= bound, marked)
    marked_rows = conn.execution_options(stream_results=True).execute(query)
    for page in marked_rows.partitions(PAGE):
        for oid, version, state in page:
            stream = oid.hex() if isinstance(oid, bytes) else str(oid).replace("-", "")
            # The payload's JSON as the transcoder wrote it, read without building the
            # event (a third of the cost of decoding it): its top-level sealed fields.
            payload = json.loads(bytes(state))
            for field in ERASABLE_FIELDS:
                value = payload.get(field)
                if isinstance(value, dict) and value.get("_type_") == SealedTextAsDigest.name:
                    expected[(stream, int(version), field)] = str(value.get("_data_"))
    for oid, version, topic, state in conn.execute(
        select(ev.originator_id, ev.originator_version, ev.topic, ev.state).where(
            ev.id <= bound, ev.originator_id == ERASURES_ID
        )
    ):
        event = decode(oid, int(version), topic, bytes(state))
        if type(event).__name__ == "TextErased":
            erased[(event.erased_event, event.field)] = event.digest
    table = sealed.name
    t = sealed.c
    rows = conn.execution_options(stream_results=True).execute(
        select(t.originator_id, t.originator_version, t.field, t.event_id, t.digest, t.salt, t.text)
    )
    for page in rows.partitions(PAGE):
        for oid, version, field, eid, stored, salt, text in page:
            stream = str(oid).replace("-", "")
            name = f"stream={_hyphenated(stream)}, version={version}, field={field}"
            digest = expected.pop((stream, int(version), str(field)), None)
            if digest is None:
                what = "no event in the log seals this field (inserted outside the ledger)"
            elif stored != digest:
                what = f"its digest is not the one the event's payload holds ({digest})"
            elif not _is_event_id(eid, stream, int(version)):
                what = f"its event_id {eid} is not the id of the event it is beside"
            elif not _opens(digest, salt, text):
                what = "its salt and words do not give the event's digest (edited)"
            elif (eid, field) in erased:
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
            row=f"stream={_hyphenated(stream)}, version={version}, field={field}",
        )


def _opens(digest: str, salt: Any, text: Any) -> bool:
    """``opens``, without building objects per row (a salt that is not hex: no)."""
    try:
        salt_bytes = bytes.fromhex(str(salt))
    except ValueError:
        return False
    computed = "sha256:" + hashlib.sha256(SEAL_DOMAIN + salt_bytes + str(text).encode()).hexdigest()
    return hmac.compare_digest(computed, digest)


def _is_event_id(given: Any, stream: str, version: int) -> bool:
    """Is ``given`` ``event_id(stream, version)`` -- uuid5, computed without UUID objects."""
    h = bytearray(hashlib.sha1(bytes.fromhex(stream) + str(version).encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    return bool(given == _hyphenated(h.hex()))


def _hyphenated(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
