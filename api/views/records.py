"""A CCG's record: its premium decision (now, as of a time, at a position) and its history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView

from api.auth import allow
from api.context import ledger
from api.decision_bytes import fill, template
from api.etags import json_with_etag, make_etag, respond, tagged_json
from api.jsonio import Blueprint
from api.schemas import parameters
from api.schemas.records import (
    CACHE_CONTROL,
    Decision,
    DecisionQuery,
    HCAICaseStory,
    HistoryPage,
    HistoryQuery,
)
from ledger.engine.decide import ENGINE_VERSION

blp = Blueprint(
    "records",
    __name__,
    url_prefix="/ccgs/<ccg>/schemes/<scheme>",
    description="Read a CCG's premium decision and the events behind it.",
)


def with_etag(
    query: type[ma.Schema],
    answer: type[ma.Schema],
    description: str,
    headers: dict[str, Any] | None = None,
) -> Callable[[Any], Any]:
    """The decorators of a read that answers with an ETag (and 304 for If-None-Match)."""
    headers = {**parameters.ETAG, **(headers or {})}

    def decorate(get: Any) -> Any:
        get = blp.doc(parameters=parameters.IF_NONE_MATCH)(get)
        get = blp.alt_response(304, description="Not modified (If-None-Match).", headers=headers)(
            get
        )
        get = blp.response(200, answer, headers=headers, description=description)(get)
        get = blp.arguments(query, location="query", as_kwargs=True)(get)
        return allow("read-ccg")(get)

    return decorate


def version_at(ccg: str, scheme: str, position: int) -> int:
    # The record's version at the document's log position, so the ETag names
    # exactly the state the document was computed from, however writes race.
    version = ledger().stream_version_at(ccg, scheme, position)
    return version or 0


@blp.route("/decision", endpoint="decision")
class DecisionView(MethodView):
    @with_etag(
        DecisionQuery,
        Decision,
        "The decision document of docs/contract.md.",
        CACHE_CONTROL,
    )
    def get(
        self, ccg: str, scheme: str, as_of: str | None = None, position: int | None = None
    ) -> Response:
        """The premium decision, now or as it stood at a recorded time or log position.

        `as_of` uses only events recorded at or before that instant; `position`
        only events at or before that log position; give at most one. A moment
        when the record held no events has no decision: 404 `nothing-recorded`,
        naming the record's first event.

        A decision at a position never changes: with `position` the answer is
        `Cache-Control: private, max-age=31536000, immutable`; otherwise
        `private, no-cache` (revalidate with `If-None-Match`: 304 when unchanged).
        """
        return respond(*decision_body(ccg, scheme, as_of, position), immutable=position is not None)


def decision_body(
    ccg: str, scheme: str, as_of: str | None, position: int | None
) -> tuple[bytes, str]:
    """The served bytes and ETag of a decision, kept by the log position it was read at.

    A resolved point (log position, and the moment the document names) is final,
    so its bytes are too: "now" costs one query for the log head, a pinned
    position none. Errors (unknown CCG, bad point, nothing recorded) are never kept.
    A new position of a record version already served (every write moves "now")
    costs the version lookup and the re-stamping of the kept JSON, not a replay
    or a serialisation.
    """
    app = ledger()
    app.check_subject(ccg, scheme)
    point, moment = app.resolve_point(as_of=as_of, position=position)
    bodies = app.decision_cache.bodies
    tagged: tuple[bytes, str] | None = bodies.get(("decision", ccg, scheme, point, moment))
    if tagged is not None:
        return tagged
    # A record version already served elsewhere: its JSON re-stamped (api/decision_bytes.py).
    version = version_at(ccg, scheme, point)
    templates = app.decision_cache.templates
    pieces = templates.get((ccg, scheme, version, ENGINE_VERSION)) if version else None
    dumps = current_app.json.dumps
    if pieces is not None:
        pointer: dict[str, Any] = {"position": point}
        app.attach_log(pointer)
        body = fill(pieces, (moment, point, pointer["log"]), dumps)
        return bodies.put(
            ("decision", ccg, scheme, point, moment), (body, make_etag(ccg, scheme, version, body))
        )
    if as_of is None:
        decision = app.determinations.decision(ccg, scheme, position=point)
    else:
        decision = app.determinations.decision(ccg, scheme, as_of=as_of)
    document = decision.document
    at = int(document["position"])
    kept_version = version_at(ccg, scheme, at)
    tagged = tagged_json(document, ccg, scheme, kept_version)
    found = template(document, dumps)
    if found is not None and kept_version:
        templates.put((ccg, scheme, kept_version, ENGINE_VERSION), found)
    return bodies.put(("decision", ccg, scheme, at, document["as_of"]), tagged)


@blp.route("/history", endpoint="history")
class HistoryView(MethodView):
    @with_etag(HistoryQuery, HistoryPage, "One page of the record's events, oldest first.")
    def get(self, ccg: str, scheme: str, offset: int, limit: int) -> Response:
        """The CCG's events in order, paged: who recorded what, when, and why."""
        total = ledger().stream_version(ccg, scheme)
        # Read the version first and never show events past it, so the ETag
        # (used as If-Match) never claims more than the page saw.
        size = min(limit, max(0, total - offset))
        events: list[dict[str, Any]] = (
            ledger().history(ccg, scheme, offset=offset, limit=size) if size else []
        )
        page = {
            "ccg": ccg,
            "scheme": scheme,
            "offset": offset,
            "limit": limit,
            "total": total,
            "next_offset": offset + size if offset + size < total else None,
            "events": events,
        }
        return json_with_etag(page, ccg, scheme, total)


@blp.route("/hcai-cases/<case_id>", endpoint="hcai-case")
class HCAICaseView(MethodView):
    @allow("read-ccg")
    @blp.response(200, HCAICaseStory, description="The case and its events.")
    def get(self, ccg: str, scheme: str, case_id: str) -> dict[str, Any]:
        """An MRSA case reported against this CCG: where it is assigned now, and its story.

        Every report, post-infection review assignment, reassignment after
        challenge and withdrawal, with who recorded it, when, and why (issue 14).
        A case is read under the CCG it was reported against; 404 otherwise.
        """
        return ledger().case_history(ccg, scheme, case_id)
