"""``qp-ledger verify``, beyond the events: every other table a decision reads, against them.

The Merkle log covers the events (and, through the leaf, each event's
recorded time). What else the service reads is checked here against those
verified events, after the main pass (:mod:`ledger.integrity.audit`):

* the position index: each row's stream and version are compared with its
  event in the main pass; here, rows with no event (inserted) are named;
* snapshots: each is compared with the state its record's events fold to at
  the snapshot's version (the snapshot is decoded and both aggregates'
  attributes compared, as a replay would use them), and with its
  authentication code when the key is at hand; a code with no snapshot
  (snapshot deleted) is named too;
* idempotency rows: the event each points to must exist, be the stated
  version of a stream the row's CCG and scheme name, and have the stated
  recorded time; and each row must match the key code its write stored
  (edits, made-up, re-pointed and deleted rows: :mod:`ledger.integrity.audit_keys`).

Each problem names the table and the row's key.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Table, select

from ledger.domain.determinations import determinations_id
from ledger.domain.record import stream_id
from ledger.integrity.audit_index_codes import audit_index_codes
from ledger.integrity.audit_keys import audit_key_codes
from ledger.integrity.audit_report import AuditReport
from ledger.integrity.snapshot_mac import snapshot_mac

#: Decodes one stored row ``(originator_id, version, topic, state)`` into a domain event.
Decode = Callable[[Any, int, str, bytes], Any]


@dataclass(frozen=True)
class OwnedTables:
    """The ledger's tables besides the Merkle log's (names as the application creates them)."""

    events: Table
    index: Table
    idempotency: Table
    snapshots: Table | None = None
    macs: Table | None = None
    #: The key codes of idempotency rows and their epoch (ledger/integrity/key_codes.py).
    key_codes: Table | None = None
    key_codes_since: Table | None = None
    #: The index rows' codes and their epoch (ledger/integrity/key_codes.py).
    index_codes: Table | None = None
    index_codes_since: Table | None = None


def audit_tables(
    conn: Connection,
    owned: OwnedTables,
    decode: Decode,
    snapshot_key: bytes | None,
    *,
    report: AuditReport,
) -> None:
    """Add a problem to ``report`` for each row of these tables the events contradict."""
    bound = report.last_position
    _index_extras(conn, owned, report)
    _idempotency(conn, owned, report, bound)
    if owned.key_codes is not None and owned.key_codes_since is not None:
        report.notes += audit_key_codes(
            conn,
            owned.events,
            owned.idempotency,
            owned.key_codes,
            owned.key_codes_since,
            snapshot_key,
            report=report,
        )
    if owned.index_codes is not None and owned.index_codes_since is not None:
        report.notes += audit_index_codes(
            conn,
            owned.index,
            owned.index_codes,
            owned.index_codes_since,
            snapshot_key,
            report=report,
        )
    if owned.snapshots is not None:
        _snapshots(conn, owned, report, decode, snapshot_key)


def _index_extras(conn: Connection, owned: OwnedTables, report: AuditReport) -> None:
    """Index rows with no event, at any position: a write commits both or neither."""
    ev, idx = owned.events.c, owned.index.c
    rows = conn.execute(
        select(idx.position)
        .outerjoin_from(owned.index, owned.events, ev.id == idx.position)
        .where(ev.id.is_(None))
        .order_by(idx.position)
        .limit(100)
    ).all()
    for (position,) in rows:
        report.flag(
            position,
            None,
            "no event at this position (row inserted?)",
            table=owned.index.name,
            row=f"position={position}",
        )


def _idempotency(conn: Connection, owned: OwnedTables, report: AuditReport, bound: int) -> None:
    ev, idx, idem = owned.events.c, owned.index.c, owned.idempotency.c
    query = (
        select(
            idem.actor,
            idem.key,
            idem.ccg,
            idem.scheme,
            idem.version,
            idem.position,
            idem.recorded_us,
            ev.originator_id,
            ev.originator_version,
            ev.topic,
            idx.recorded_us,
        )
        .outerjoin_from(owned.idempotency, owned.events, ev.id == idem.position)
        .outerjoin(owned.index, idx.position == idem.position)
        .order_by(idem.position, idem.actor, idem.key)
    )
    for row in conn.execute(query):
        actor, key, ccg, scheme, version, position, recorded, stream, ev_version, topic, at = row
        if isinstance(position, int) and position > bound and stream is not None:
            continue  # written (with its event) after the audit started
        what = _idempotency_problem(ccg, scheme, version, recorded, stream, ev_version, topic, at)
        if what is not None:
            report.flag(
                position if isinstance(position, int) else None,
                None,
                what,
                table=owned.idempotency.name,
                row=f"actor={actor!r:.60}, key={key!r:.60}",
            )


def _idempotency_problem(
    ccg: Any,
    scheme: Any,
    version: Any,
    recorded: Any,
    stream: Any,
    event_version: Any,
    topic: Any,
    event_recorded: Any,
) -> str | None:
    if stream is None:
        return "points at a position with no event"
    if event_version != version:
        return f"says version {version!r:.40}, the event there is version {event_version}"
    if event_recorded is None or event_recorded != recorded:
        return f"says recorded at {recorded!r:.40} µs, the event was recorded at {event_recorded}"
    if "HCAICase" in str(topic):
        return None  # a case's stream is named by its case id, which the row does not keep
    try:
        expected = {str(stream_id(ccg, scheme)), str(determinations_id(ccg, scheme))}
    except Exception:  # a CCG or scheme value the ledger never writes
        return f"names CCG {ccg!r:.20} and scheme {scheme!r:.40}, which no record has"
    if str(UUID(str(stream))) not in expected:
        return f"names CCG {ccg!r:.20} in {scheme!r:.40}, but the event is in stream {stream}"
    return None


def _snapshots(
    conn: Connection,
    owned: OwnedTables,
    report: AuditReport,
    decode: Decode,
    snapshot_key: bytes | None,
) -> None:
    """Fold each snapshotted stream's events up to each of its snapshots; compare."""
    assert owned.snapshots is not None
    sn, ev = owned.snapshots.c, owned.events.c
    snapshots = conn.execute(
        select(sn.originator_id, sn.originator_version, sn.topic, sn.state).order_by(
            sn.originator_id, sn.originator_version
        )
    ).all()
    codes: dict[tuple[str, int], bytes] = {}
    if owned.macs is not None:
        mc = owned.macs.c
        for oid, version, mac in conn.execute(
            select(mc.originator_id, mc.originator_version, mc.mac)
        ):
            codes[(str(oid), int(version))] = bytes(mac)
    by_stream: dict[Any, list[Any]] = {}
    for row in snapshots:
        by_stream.setdefault(row[0], []).append(row)
    # A stream with an event already named: its snapshots are built from the true
    # events, the fold from the edited ones; that difference is not a second finding.
    bad = {p.position for p in report.problems if p.position is not None and p.table is None}
    named = {
        str(UUID(str(oid)))
        for (oid,) in conn.execute(select(ev.originator_id).where(ev.id.in_(sorted(bad)[:100])))
    }
    table = owned.snapshots.name
    macs_name = owned.macs.name if owned.macs is not None else f"{table} codes"
    for oid, rows in by_stream.items():
        skip = str(UUID(str(oid))) in named
        last = 0 if skip else max(int(r[1]) for r in rows)
        events = conn.execute(
            select(ev.originator_id, ev.originator_version, ev.topic, ev.state)
            .where(ev.originator_id == oid, ev.originator_version <= last)
            .order_by(ev.originator_version)
        )
        aggregate: Any = None
        folded = 0
        pending = iter(rows)
        target = next(pending, None)
        for event in events:
            aggregate = decode(event[0], int(event[1]), event[2], bytes(event[3])).mutate(aggregate)
            folded = int(event[1])
            while target is not None and int(target[1]) <= folded:
                if not skip:
                    _compare(target, aggregate, folded, decode, report, table)
                target = next(pending, None)
        while target is not None and not skip:
            _compare(target, None, folded, decode, report, table)
            target = next(pending, None)
        for row in rows:
            key = (str(UUID(str(row[0]))), int(row[1]))
            code = codes.pop(key, None)
            where = f"originator_id={key[0]}, originator_version={key[1]}"
            if code is None:
                report.flag(
                    None,
                    None,
                    "missing: the snapshot has no authentication code",
                    table=macs_name,
                    row=where,
                )
            elif snapshot_key is not None and not hmac.compare_digest(
                code, snapshot_mac(snapshot_key, row[0], int(row[1]), row[2], bytes(row[3]))
            ):
                report.flag(
                    None,
                    None,
                    "does not match its snapshot (the code or the snapshot was edited)",
                    table=macs_name,
                    row=where,
                )
    for oid, version in sorted(codes):
        report.flag(
            None,
            None,
            "authentication code with no snapshot (snapshot deleted?)",
            table=macs_name,
            row=f"originator_id={oid}, originator_version={version}",
        )


def _compare(
    row: Any, aggregate: Any, folded: int, decode: Decode, report: AuditReport, table: str
) -> None:
    where = f"originator_id={UUID(str(row[0]))}, originator_version={int(row[1])}"
    if aggregate is None or folded != int(row[1]):
        report.flag(
            None, None, f"the stream's events end at version {folded}", table=table, row=where
        )
        return
    try:
        restored = decode(row[0], int(row[1]), row[2], bytes(row[3])).mutate(None)
    except Exception as e:  # an edited row can hold anything
        report.flag(None, None, f"cannot be read: {type(e).__name__}", table=table, row=where)
        return
    if _state(restored) != _state(aggregate):
        differing = sorted(
            k
            for k in set(_state(restored)) | set(_state(aggregate))
            if _state(restored).get(k) != _state(aggregate).get(k)
        )
        report.flag(
            None,
            None,
            "differs from the state its events fold to (" + ", ".join(differing)[:120] + ")",
            table=table,
            row=where,
        )


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}
