"""The reporting API: read models only, never the event log (issue 4).

Every list endpoint pages (``page``, ``page_size``; ``X-Pagination`` and
``Link`` headers) and answers ``text/csv`` when the ``Accept`` header prefers
it, with the same rows and columns as the JSON. Each answer carries
``X-Projection-Position``: the log position the figures reflect. A client
that has just written at position P sends ``min_position=P`` and the server
waits briefly for the read models to apply it, or answers 503 with
``Retry-After``.

Wiring (``api/app.py``): register ``blp``; the read side is
``current_app.extensions["qp_ledger_reports"]`` (a ``ReadModels``), made on
first use from the ledger's database URL if the app did not set one. Every
view declares the ``read-reports`` action for ``api.auth``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, current_app, request
from flask.views import MethodView

from api import report_schemas as rs
from api.auth import allow
from api.jsonio import Blueprint
from api.problems import Problem
from ledger.config import DATABASE_URL
from ledger.domain.ccgs import get_ccg
from ledger.projections import Page, ReadModelNotReady, ReadModels, projection_lag

blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/reports",
    description="Read models for reporting systems: decisions, summaries, timelines, "
    "attainment. Paged, filterable, JSON or CSV.",
)

#: Role action every report view declares (api.auth.READERS must list who may).
ACTION = "read-reports"
#: Seconds a request with ``min_position`` waits for the read models (config key).
WAIT_SETTING = "QP_LEDGER_REPORTS_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 2.0
CSV_MIMETYPE = "text/csv"
_lock = threading.Lock()
T = TypeVar("T")

PAGE_HEADERS = {
    "X-Pagination": {
        "description": "JSON: total, total_pages, first_page, last_page, page, "
        "previous_page, next_page.",
        "schema": {"type": "string"},
    },
    "X-Projection-Position": {
        "description": "The log position the figures reflect.",
        "schema": {"type": "integer"},
    },
    "Link": {"description": "RFC 8288 first/prev/next/last links.", "schema": {"type": "string"}},
}
CSV_DOC = {"description": "The same rows as CSV (send Accept: text/csv); header row first."}


def read_models() -> ReadModels:
    """The app's read side (made on first use from the ledger's database URL)."""
    found: ReadModels | None = current_app.extensions.get("qp_ledger_reports")
    if found is None:
        with _lock:
            found = current_app.extensions.get("qp_ledger_reports")
            if found is None:
                ledger = current_app.extensions.get("qp_ledger")
                url = getattr(ledger, "database_url", None) or current_app.config[DATABASE_URL]
                found = current_app.extensions["qp_ledger_reports"] = ReadModels(url)
    return found


def reading(names: Sequence[str], min_position: int | None, query: Callable[[], T]) -> T:
    """Wait for ``min_position`` if asked, then run the query; map not-ready to 503."""
    models = read_models()
    try:
        if min_position is not None:
            head = models.head()
            if min_position > head:
                # No write has been acknowledged at that position: waiting cannot help.
                raise Problem(
                    422,
                    "validation-error",
                    f"min_position {min_position} is beyond the end of the log ({head}).",
                    errors=[
                        {
                            "field": "min_position",
                            "in": "query",
                            "message": f"at most {head}",
                            "allowed": f"0..{head}",
                        }
                    ],
                )
            configured = current_app.config.get(WAIT_SETTING)
            if configured is None:
                configured = os.environ.get(WAIT_SETTING, "").strip() or DEFAULT_WAIT_SECONDS
            timeout = float(configured)
            reached, position = models.wait_for(min_position, names, timeout)
            if not reached:
                raise Problem(
                    503,
                    "projection-behind",
                    f"The read models have applied the log up to position {position}, not yet "
                    f"{min_position}. Try again shortly.",
                    errors=[{"field": "min_position", "message": f"at {position}"}],
                    headers={"Retry-After": "1"},
                )
        return query()
    except ReadModelNotReady as e:
        raise Problem(503, "not-ready", e.message, headers={"Retry-After": "5"}) from None


def wants_csv() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", CSV_MIMETYPE])
    return best == CSV_MIMETYPE


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text (OWASP CSV injection).
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def to_csv(rows: list[dict[str, Any]], schema: ma.Schema) -> str:
    """RFC 4180 CSV: a header row, then one line per row, CRLF line ends."""
    columns = list(schema.fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _link(page: int) -> str:
    args = request.args.to_dict(flat=True)
    args["page"] = str(page)
    return f"{request.base_url}?{urlencode(args)}"


def page_headers(page: Page) -> dict[str, str]:
    total_pages = (page.total + page.page_size - 1) // page.page_size
    meta: dict[str, int] = {"total": page.total, "total_pages": total_pages}
    links = []
    if total_pages:
        meta.update(first_page=1, last_page=total_pages)
        links += [f'<{_link(1)}>; rel="first"', f'<{_link(total_pages)}>; rel="last"']
        if page.page <= total_pages:
            meta["page"] = page.page
        if 1 < page.page <= total_pages:
            meta["previous_page"] = page.page - 1
            links.append(f'<{_link(page.page - 1)}>; rel="prev"')
        if page.page < total_pages:
            meta["next_page"] = page.page + 1
            links.append(f'<{_link(page.page + 1)}>; rel="next"')
    headers = {
        "X-Pagination": json.dumps(meta, separators=(",", ":")),
        "X-Projection-Position": str(page.position),
    }
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def respond(page: Page, schema: ma.Schema, filename: str) -> Any:
    """The page as JSON (through the view's response schema) or as CSV."""
    headers = page_headers(page)
    if wants_csv():
        body = to_csv(schema.dump(page.items, many=True), schema)
        response = Response(body, mimetype=CSV_MIMETYPE)
        response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
        response.headers["Content-Disposition"] = f'inline; filename="{filename}.csv"'
        response.headers["Vary"] = "Accept"
        response.headers.update(headers)
        return response
    return page.items, 200, {**headers, "Vary": "Accept"}


@blp.route("/decisions", endpoint="decisions")
class DecisionsView(MethodView):
    @allow(ACTION)
    @blp.arguments(rs.DecisionListQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, rs.DecisionRow(many=True), headers=PAGE_HEADERS)
    @blp.alt_response(200, schema=rs.DecisionRow(many=True), content_type=CSV_MIMETYPE,
                      success=True, **CSV_DOC)  # fmt: skip
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self, page: int, page_size: int, min_position: int | None = None,
            **filters: Any) -> Any:  # fmt: skip
        """Each CCG's current decision: filter by scheme, area team, region, status; sort; page."""
        result = reading(
            ["decisions"],
            min_position,
            lambda: read_models().decisions(page=page, page_size=page_size, **filters),
        )
        return respond(result, rs.DecisionRow(), "decisions")


@blp.route("/ccgs/<ccg>/decision", endpoint="ccg-decision")
class CCGDecisionView(MethodView):
    @allow(ACTION)
    @blp.arguments(rs.SchemeQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(
        200,
        description="The decision document of docs/contract.md, from the read model.",
        headers={"X-Projection-Position": PAGE_HEADERS["X-Projection-Position"]},
    )
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self, ccg: str, scheme: str, min_position: int | None = None) -> Any:
        """A CCG's current decision document (as of its latest event)."""
        _known(ccg)
        document, position = reading(
            ["decisions"], min_position, lambda: read_models().decision_document(ccg, scheme)
        )
        if document is None:
            raise Problem(404, "not-found", f"CCG {ccg} has no record in {scheme} yet.")
        # What QPLedger.decision adds to the engine's document (the log head at its position).
        attach = getattr(current_app.extensions.get("qp_ledger"), "attach_log", None)
        if attach is not None:
            attach(document)
        return document, 200, {"X-Projection-Position": str(position)}


@blp.route("/ccgs/<ccg>/timeline", endpoint="ccg-timeline")
class TimelineView(MethodView):
    @allow(ACTION)
    @blp.arguments(rs.TimelineQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, rs.TimelineRow(many=True), headers=PAGE_HEADERS)
    @blp.alt_response(200, schema=rs.TimelineRow(many=True), content_type=CSV_MIMETYPE,
                      success=True, **CSV_DOC)  # fmt: skip
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self, ccg: str, scheme: str, page: int, page_size: int,
            min_position: int | None = None) -> Any:  # fmt: skip
        """Every change of a CCG's payable amount or status, with the event that caused it."""
        _known(ccg)
        result = reading(
            ["decisions"],
            min_position,
            lambda: read_models().timeline(ccg, scheme, page=page, page_size=page_size),
        )
        return respond(result, rs.TimelineRow(), f"timeline-{ccg}")


@blp.route("/summaries", endpoint="summaries")
class SummariesView(MethodView):
    @allow(ACTION)
    @blp.arguments(rs.SummaryQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, rs.SummaryRow(many=True), headers=PAGE_HEADERS)
    @blp.alt_response(200, schema=rs.SummaryRow(many=True), content_type=CSV_MIMETYPE,
                      success=True, **CSV_DOC)  # fmt: skip
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self, page: int, page_size: int, min_position: int | None = None,
            **filters: Any) -> Any:  # fmt: skip
        """Totals by England, region or area team: CCGs by status, payable, share of the pot."""
        result = reading(
            ["summaries"],
            min_position,
            lambda: read_models().summaries(page=page, page_size=page_size, **filters),
        )
        return respond(result, rs.SummaryRow(), f"summaries-{filters.get('group_by')}")


@blp.route("/attainment", endpoint="attainment")
class AttainmentView(MethodView):
    @allow(ACTION)
    @blp.arguments(rs.AttainmentQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, rs.AttainmentRow(many=True), headers=PAGE_HEADERS)
    @blp.alt_response(200, schema=rs.AttainmentRow(many=True), content_type=CSV_MIMETYPE,
                      success=True, **CSV_DOC)  # fmt: skip
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self, page: int, page_size: int, min_position: int | None = None,
            **filters: Any) -> Any:  # fmt: skip
        """Measures and constitution standards: CCGs that met each, did not, or are pending."""
        result = reading(
            ["attainment"],
            min_position,
            lambda: read_models().attainment(page=page, page_size=page_size, **filters),
        )
        return respond(result, rs.AttainmentRow(), "attainment")


@blp.route("/status", endpoint="status")
class StatusView(MethodView):
    @allow(ACTION)
    @blp.response(200, rs.ReportStatus)
    def get(self) -> Any:
        """Where each read model stands: position, lag behind the log, generation."""
        return projection_lag(read_models())


def _known(ccg: str) -> None:
    if get_ccg(ccg) is None:
        raise Problem(404, "unknown-ccg", f"There is no CCG with ODS code {ccg!r}.")
