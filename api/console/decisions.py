"""A CCG's decision at any point of its record, one of its events, and what changed
between two decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, request, url_for

from api.console import may, require
from api.console.charts import Mark, step_chart
from api.console.pages import bp, ccg_page, int_arg
from api.context import ledger
from api.problems import Problem
from api.views.reports import read_models
from ledger.projections import ReadModelNotReady


def history(ccg: str, scheme: str) -> list[dict[str, Any]]:
    return list(ledger().iter_history(ccg, scheme))


def lines(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every line of a decision with the events behind it, in the order the page shows."""
    yield {"kind": "population", "events": document.get("population_events", [])}
    for component in document.get("components", []):
        yield {"kind": "component", "item": component, "events": component.get("events", [])}
        for criterion in component.get("criteria", []):
            yield {"kind": "criterion", "item": criterion, "events": criterion["events"]}
    for gate in document.get("gates", []):
        yield {"kind": "gate", "item": gate, "events": gate.get("events", [])}
    for deduction in document.get("deductions", []):
        yield {"kind": "deduction", "item": deduction, "events": deduction.get("events", [])}


def picker_value(recorded: str | None) -> str:
    """A recorded instant as a ``datetime-local`` value (UTC, to the second) to start from."""
    return recorded[:19] if recorded else ""


@bp.get("/ccgs/<ccg>/<scheme>")
def decision(ccg: str, scheme: str) -> Response:
    token = require("read-ccg", ccg=ccg, scheme=scheme)
    position = int_arg("position")
    as_of = request.args.get("as_of", "").strip() or None
    events = history(ccg, scheme)
    if not events:
        raise Problem(404, "nothing-recorded", f"CCG {ccg} has no events in {scheme} yet.")
    first, last = events[0]["position"], events[-1]["position"]
    # A recorded time resolves to the last log position recorded at or before it
    # (the service says so, or why not: malformed, in the future, or both given).
    document = (
        ledger().determinations.decision(ccg, scheme, position=position, as_of=as_of).document
    )
    try:
        changes = read_models().timeline(ccg, scheme, page_size=1000).items
    except ReadModelNotReady:
        changes = []
    replayed = position is not None or as_of is not None
    at = document["position"] if replayed else None
    marks = [
        Mark(
            e["position"],
            f"position {e['position']}: {e['type']} ({e['actor']})",
            url_for("console.event", ccg=ccg, scheme=scheme, position=e["position"]),
        )
        for e in events
    ]
    chart = step_chart(
        [(c["position"], int(c["payable_pence"])) for c in changes],
        marks,
        first=first,
        last=last,
        current=at,
        title=f"Payable amount of {ccg} over log positions {first} to {last}",
    )
    return ccg_page(
        "decision.html",
        ccg,
        scheme,
        title=f"{ccg} decision",
        document=document,
        lines=list(lines(document)),
        by_id={e["id"]: e for e in events},
        first=first,
        last=last,
        position=position,
        as_of=as_of,
        replayed=replayed,
        picked=picker_value(document["as_of"]),
        chart=chart,
        changes=changes,
        may_determinations=may(token, "read-determinations", ccg=ccg, scheme=scheme),
    )


@bp.get("/ccgs/<ccg>/<scheme>/events/<int:position>")
def event(ccg: str, scheme: str, position: int) -> Response:
    require("read-ccg", ccg=ccg, scheme=scheme)
    found = next((e for e in history(ccg, scheme) if e["position"] == position), None)
    if found is None:
        raise Problem(404, "not-found", f"CCG {ccg} has no event at log position {position}.")
    return ccg_page(
        "event.html",
        ccg,
        scheme,
        title=f"Event at position {position}",
        event=found,
        fields_json=json.dumps(found["fields"], indent=2, ensure_ascii=False),
    )


# -- diff -----------------------------------------------------------------------------


def _end(name: str) -> dict[str, Any]:
    issue = (request.args.get(f"{name}_issue") or "").strip()
    if issue:
        return {"issue_id": issue}
    found = int_arg(f"{name}_position")
    return {} if found is None else {"position": found}


@bp.get("/ccgs/<ccg>/<scheme>/diff")
def diff(ccg: str, scheme: str) -> Response:
    require("read-determinations", ccg=ccg, scheme=scheme)
    start, end = _end("from"), _end("to")
    result = None
    if start:
        result = ledger().determinations.diff(ccg, scheme, start, end)
    chain = ledger().determinations.chain(ccg, scheme)
    return ccg_page(
        "diff.html",
        ccg,
        scheme,
        title=f"{ccg}: what changed",
        result=result,
        issued=chain["issued"],
        args=request.args.to_dict(),
    )
