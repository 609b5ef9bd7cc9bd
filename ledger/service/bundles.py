"""Export an issued decision as an evidence bundle (docs/bundle.md): the ledger's side.

Everything an auditor needs to re-derive the decision with no database and no
trust in the operator goes into one JSON document: the decision as issued,
the scheme file as shipped, the CCG's record up to the decision's position as
canonical leaves, the next event of the record if there is one (so the
record is provably complete up to the position), the issue event, an
inclusion proof for each against a freshly signed checkpoint, and a
consistency proof from the tree the decision names to that checkpoint.

The checkpoint is signed through :mod:`ledger.integrity.signed_head`: a log
rewritten since the last checkpoint gets no bundle (``SigningRefused``).
Reads are a fixed handful of statements plus one per 500 proof nodes, so a
10,000-event record is exported in one pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from ledger.domain.determinations import determinations_id
from ledger.domain.errors import NotFound
from ledger.domain.record import stream_id
from ledger.integrity.bundle import FORMAT
from ledger.integrity.bundle_record import ISSUE_TOPIC, RecordError, issued
from ledger.integrity.checkpoint import Signer
from ledger.integrity.documents import LogDocuments, b64
from ledger.integrity.leaf import decode_leaf
from ledger.integrity.merkle import NodeID, inclusion_plan
from ledger.integrity.nodes import StoredNodes
from ledger.integrity.tables import stored_leaf

if TYPE_CHECKING:
    from ledger.service.application import QPLedger

_NODES_PER_QUERY = 500


def _leaves(ledger: QPLedger, conn: Connection, stream: str, upto: int, size: int) -> list[Any]:
    """(leaf index, leaf bytes) of a stream's versions 1..upto that are in the first ``size``."""
    log = ledger.store.integrity
    ev, lv = log.events.c, log.leaves.c
    rows = conn.execute(
        log.stored_leaves(ledger.store.index)
        .where(lv.originator_id == stream, lv.leaf_index < size, ev.originator_version <= upto)
        .order_by(lv.leaf_index)
    ).all()
    return [(int(row[0]), stored_leaf(row)) for row in rows]


def _proofs(ledger: QPLedger, conn: Connection, indices: Iterable[int], size: int) -> list[Any]:
    """Inclusion paths for many leaves at once: the union of their nodes, fetched in batches."""
    plans = [inclusion_plan(i, size) for i in indices]
    wanted = sorted({node for plan in plans for node in plan.node_ids})
    source = StoredNodes(ledger.store.integrity, conn)
    found: dict[NodeID, bytes] = {}
    for start in range(0, len(wanted), _NODES_PER_QUERY):
        found.update(source.get_nodes(wanted[start : start + _NODES_PER_QUERY]))
    return [[b64(h) for h in plan.assemble(found)] for plan in plans]


def _issue_leaf(
    ledger: QPLedger, conn: Connection, ccg: str, scheme: str, issue_id: str, size: int
) -> tuple[int, bytes]:
    stream = str(determinations_id(ccg, scheme))
    for index, data in _leaves(ledger, conn, stream, 2**62, size):
        event = decode_leaf(data)
        if event.topic != ISSUE_TOPIC:
            continue
        try:
            if issued(event)["issue_id"] == issue_id:
                return index, data
        except RecordError:
            continue  # a damaged issue event of another id: not this one
    raise NotFound(
        f"issue_id: the event that issued {issue_id} is not in the log", field="issue_id"
    )


def scheme_file(scheme: str) -> Any:
    """The scheme definition exactly as shipped in ``ledger/schemes/``."""
    return json.loads((resources.files("ledger.schemes") / f"{scheme}.json").read_text("utf-8"))


def export_bundle(ledger: QPLedger, signer: Signer, ccg: str, scheme: str, issue_id: str) -> Any:
    """The evidence bundle of one issued decision (a JSON-ready dict; docs/bundle.md)."""
    decision = ledger.determinations.issued_decision(ccg, scheme, issue_id)["document"]
    position = int(decision["position"])
    version = ledger.stream_version_at(ccg, scheme, position)
    docs = LogDocuments(ledger.store)
    signed = docs.checkpoint(signer)
    size = int(signed["tree_size"])
    with docs.connect() as conn:
        stream = str(stream_id(ccg, scheme))
        record = _leaves(ledger, conn, stream, version + 1, size)
        events = [(i, d) for i, d in record if decode_leaf(d).version <= version]
        following = [(i, d) for i, d in record if decode_leaf(d).version == version + 1]
        issue = _issue_leaf(ledger, conn, ccg, scheme, issue_id, size)
        chosen = [*events, *following, issue]
        paths = _proofs(ledger, conn, (i for i, _ in chosen), size)
        first = int(decision["log"]["tree_size"])
        consistency = ledger.store.integrity.consistency_proof(conn, first, size)

    proven = [
        {"leaf_index": i, "leaf": b64(d), "inclusion_path": p}
        for (i, d), p in zip(chosen, paths, strict=True)
    ]
    return {
        "format": FORMAT,
        "ccg": ccg,
        "scheme": scheme,
        "issue_id": issue_id,
        "engine_version": decision["engine_version"],
        "decision": decision,
        "scheme_data": scheme_file(scheme),
        "record": {
            "stream_id": stream,
            "events": proven[: len(events)],
            "next_event": proven[len(events)] if following else None,
        },
        "issue_event": proven[-1],
        "decision_log": {
            "tree_size_1": first,
            "tree_size_2": size,
            "consistency_path": [b64(h) for h in consistency],
        },
        "checkpoint": {"note": signed["checkpoint"], "verifier_key": signed["verifier_key"]},
    }
