"""One issued decision, as a letter, and what the browser needs to verify it."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from api.console import may, require
from api.console.decisions import lines
from api.console.pages import bp, ccg_page
from api.context import ledger


def behind(document: dict[str, Any]) -> list[int]:
    """Every log position the decision's lines name (what the browser verifies)."""
    return sorted({e["position"] for line in lines(document) for e in line["events"]})


@bp.get("/ccgs/<ccg>/<scheme>/issues/<issue_id>")
def issued(ccg: str, scheme: str, issue_id: str) -> Response:
    token = require("read-determinations", ccg=ccg, scheme=scheme)
    found = ledger().determinations.issued_decision(ccg, scheme, issue_id)
    document = found["document"]
    return ccg_page(
        "issued.html",
        ccg,
        scheme,
        title=f"Decision {issue_id}",
        issued=found,
        document=document,
        lines=list(lines(document)),
        positions=behind(document),
        can_verify=may(token, "read-log") and may(token, "read-log-events"),
    )


@bp.get("/ccgs/<ccg>/<scheme>/issues/<issue_id>/bundle.json")
def bundle(ccg: str, scheme: str, issue_id: str) -> Response:
    """What the browser checks: the signed checkpoint, and proofs for every event behind it.

    Every part comes from the functions behind ``/log`` (same documents, same
    per-event read rule), so the page verifies exactly what the API serves.
    """
    from api.views.integrity import documents, readable_event, signer

    require("read-determinations", ccg=ccg, scheme=scheme)
    require("read-log")
    require("read-log-events")
    found = ledger().determinations.issued_decision(ccg, scheme, issue_id)
    docs = documents()
    checkpoint = docs.checkpoint(signer())
    size = int(checkpoint["tree_size"])
    events = []
    for position in behind(found["document"]):
        readable_event(docs, position)
        events.append(
            {
                "position": position,
                "leaf": docs.leaf(position),
                "proof": docs.inclusion(position, size),
            }
        )
    issued_tree = found["checkpoint"]
    body = {
        "issue_id": issue_id,
        "issued_tree": issued_tree,
        "checkpoint": checkpoint,
        "consistency": docs.consistency(int(issued_tree["tree_size"]), size),
        "events": events,
    }
    return Response(json.dumps(body), mimetype="application/json")
