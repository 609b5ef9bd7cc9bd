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
first use from ``QP_LEDGER_READ_DATABASE_URL`` (a streaming replica, say), else
the ledger's database URL, if the app did not set one. Only the read models
are read there: the log head a ``min_position`` is checked against comes from
the ledger's own database, since a lagging replica must make the request wait,
not refuse it. Every view declares the ``read-reports`` action for ``api.auth``.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import marshmallow as ma
from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from api.auth import allow
from api.csvio import CSV_MIMETYPE, csv_response, wants_csv
from api.jsonio import Blueprint, KeptSchemas
from api.problems import Problem
from api.schemas import reports as rs
from api.schemas.parameters import PROJECTION_POSITION, header
from ledger.config import DATABASE_URL, READ_DATABASE_URL
from ledger.domain.ccgs import get_ccg
from ledger.projections import Page, ReadModelNotReady, ReadModels, projection_lag
from ledger.projections.read import MAX_PAGE_SIZE
from ledger.service.decision_cache import Memo

#: Role action every report view declares (api.auth.READERS must list who may).
ACTION = "read-reports"
#: Seconds a request with ``min_position`` waits for the read models (config key).
WAIT_SETTING = "QP_LEDGER_REPORTS_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 2.0
#: Where the app keeps served report pages (``current_app.extensions``), and how many
#: bytes of them at most (a page of 1,000 decision rows is ~650 KB: such a page is kept too).
BODIES = "qp_report_bodies"
REPORT_BYTES = 32 * 1024 * 1024
_lock = threading.Lock()
T = TypeVar("T")

PAGINATION_HEADERS = {
    "X-Pagination": header(
        "JSON: total, total_pages, first_page, last_page, page, previous_page, next_page."
    ),
    "Link": header("RFC 8288 first/prev/next/last links."),
}
#: X-Pagination's page numbers -> the Link relation of each.
LINK_RELATIONS = {
    "first_page": "first",
    "last_page": "last",
    "previous_page": "prev",
    "next_page": "next",
}
CSV_DOC = {"description": "The same rows as CSV (send Accept: text/csv); header row first."}


class ReportBlueprint(Blueprint):
    """flask-smorest's ``paginate``, as the reports have always answered.

    The library counts the pages (``_make_pagination_metadata``) from the
    ``item_count`` a view sets on its ``pagination_parameters``. Three things
    stay ours, because the library's would change what clients see:

    * the page parameters are checked and documented by the view's query schema
      (``PagedQuery``): the library's own schema has no upper bound on ``page``
      (a page past 1,000,000 would reach the database as a huge offset instead
      of a 422) nor descriptions, and two schemas on the query string cannot
      both refuse unknown parameters, which the reports do (docs/projections.md);
    * ``X-Pagination`` stays compact JSON, and comes with an RFC 8288 ``Link``;
    * the headers stay documented as strings: the value is JSON text, which an
      OpenAPI object schema for a header would describe as ``key,value,…``.
    """

    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": MAX_PAGE_SIZE}
    PAGINATION_ARGUMENTS_PARSER = KeptSchemas()

    def _set_pagination_metadata(
        self, page_params: PaginationParameters, result: Any, headers: Any
    ) -> tuple[Any, dict[str, str]]:
        meta = _pagination_metadata(page_params.page, page_params.page_size, page_params.item_count)
        headers = dict(headers or {})
        headers[self.PAGINATION_HEADER_NAME] = json.dumps(meta, separators=(",", ":"))
        links = [
            f'<{_link(meta[k])}>; rel="{rel}"' for k, rel in LINK_RELATIONS.items() if k in meta
        ]
        if links:
            headers["Link"] = ", ".join(links)
        return result, headers

    def _prepare_pagination_doc(
        self, doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any
    ) -> dict[str, Any]:
        # Only the headers: the query schema documents the page parameters.
        if doc_info.get("pagination"):
            for status in doc_info.get("success_status_codes", []):
                response = doc["responses"][status]
                response["headers"] = {**response.get("headers", {}), **PAGINATION_HEADERS}
        return doc


@functools.lru_cache(maxsize=4096)
def _pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, int]:
    """The library's X-Pagination metadata, kept: it builds a schema to dump six integers."""
    meta: dict[str, int] = ReportBlueprint._make_pagination_metadata(page, page_size, item_count)
    return meta


#: One instance of each row schema (they keep no state between dumps).
ROWS: dict[type[ma.Schema], ma.Schema] = {
    row: row() for row in (rs.DecisionRow, rs.TimelineRow, rs.SummaryRow, rs.AttainmentRow)
}

blp = ReportBlueprint(
    "reports",
    __name__,
    url_prefix="/reports",
    description="Read models for reporting systems: decisions, summaries, timelines, "
    "attainment. Paged, filterable, JSON or CSV.",
)


def _link(page: int) -> str:
    args = request.args.to_dict(flat=True)
    args["page"] = str(page)
    return f"{request.base_url}?{urlencode(args)}"


def read_models() -> ReadModels:
    """The app's read side (made on first use from the read URL, else the ledger's)."""
    found: ReadModels | None = current_app.extensions.get("qp_ledger_reports")
    if found is None:
        with _lock:
            found = current_app.extensions.get("qp_ledger_reports")
            if found is None:
                ledger = current_app.extensions.get("qp_ledger")
                url = (
                    current_app.config.get(READ_DATABASE_URL)
                    or getattr(ledger, "database_url", None)
                    or current_app.config[DATABASE_URL]
                )
                found = current_app.extensions["qp_ledger_reports"] = ReadModels(url)
    return found


def _log_head(models: ReadModels) -> int:
    """The log's last position, from the database writes go to when reports read elsewhere."""
    ledger = current_app.extensions.get("qp_ledger")
    if current_app.config.get(READ_DATABASE_URL) and ledger is not None:
        return int(ledger.max_position())
    return models.head()


def _wait_seconds() -> float:
    configured = current_app.config.get(WAIT_SETTING)
    if configured is None:
        configured = os.environ.get(WAIT_SETTING, "").strip() or DEFAULT_WAIT_SECONDS
    return float(configured)


def reading(names: Sequence[str], min_position: int | None, query: Callable[[], T]) -> T:
    """Wait for ``min_position`` if asked, then run the query; map not-ready to 503."""
    models = read_models()
    try:
        if min_position is not None:
            head = _log_head(models)
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
            reached, position = models.wait_for(min_position, names, _wait_seconds())
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


@dataclass(frozen=True)
class Served:
    """A report page as served: exact bytes and content headers, row count, position."""

    body: bytes
    headers: tuple[tuple[str, str], ...]
    total: int
    position: int


def _bodies() -> Memo[Served]:
    found: Memo[Served] | None = current_app.extensions.get(BODIES)
    if found is None:
        with _lock:
            found = current_app.extensions.setdefault(
                BODIES, Memo(REPORT_BYTES, lambda served: len(served.body))
            )
    return found


def _serialise(page: Page, schema: ma.Schema, filename: str, csv: bool) -> Served:
    """What flask-smorest's response schema (JSON) or csv_response (CSV) would send."""
    if csv:
        built = csv_response(page.items, schema, f'inline; filename="{filename}.csv"')
    else:
        built = jsonify(schema.dump(page.items, many=True))
    kept = tuple((k, v) for k, v in built.headers.items() if k != "Content-Length")
    return Served(built.get_data(), kept, page.total, page.position)


def paged(
    read_model: str,
    min_position: int | None,
    params: PaginationParameters,
    query: Callable[..., Page],
    schema: ma.Schema,
    filename: str,
    *args: Any,
    **filters: Any,
) -> Any:
    """One page of a read model, as JSON (through the view's response schema) or CSV.

    ``paginate`` turns ``params.item_count`` into the X-Pagination and Link headers.
    The body is serialised once per (normalised query, read model generation and
    position): those tables do not change until the pair does, which costs one
    query to ask (docs/api.md, "Caching").
    """
    csv = wants_csv()
    asked = (
        read_model, request.endpoint, args,
        tuple(sorted(filters.items())), params.page, params.page_size, csv, filename,
    )  # fmt: skip
    bodies = _bodies()

    def serve() -> Served:
        models = read_models()
        stand = models.stands(read_model)
        found = bodies.get((stand, asked))
        if found is not None:
            return found
        page = query(*args, page=params.page, page_size=params.page_size, **filters)
        served = _serialise(page, schema, filename, csv)
        # Kept only if the page was read at the pair asked before and after it.
        if page.position == stand[1] and models.stands(read_model) == stand:
            bodies.put((stand, asked), served)
        return served

    served = reading([read_model], min_position, serve)
    params.item_count = served.total
    response = current_app.response_class(served.body, headers=list(served.headers))
    response.headers.update({"X-Projection-Position": str(served.position), "Vary": "Accept"})
    return response


def _paged_view(query: type[ma.Schema], rows: type[ma.Schema]) -> Callable[[Any], Any]:
    """The decorators of a paged report's GET: role, query, JSON and CSV rows, pages."""

    def decorate(view: Any) -> Any:
        view = blp.paginate()(view)
        view = blp.alt_response(503, "SERVICE_UNAVAILABLE")(view)
        view = blp.alt_response(
            200, schema=rows(many=True), content_type=CSV_MIMETYPE, success=True, **CSV_DOC
        )(view)
        view = blp.response(200, rows(many=True), headers=dict(PROJECTION_POSITION))(view)
        view = blp.arguments(query, location="query", as_kwargs=True, unknown=ma.RAISE)(view)
        return allow(ACTION)(view)

    return decorate


@blp.route("/decisions", endpoint="decisions")
class DecisionsView(MethodView):
    @_paged_view(rs.DecisionListQuery, rs.DecisionRow)
    def get(
        self, pagination_parameters: PaginationParameters, min_position: int | None = None,
        **filters: Any,
    ) -> Any:  # fmt: skip
        """Each CCG's current decision: filter by scheme, area team, region, status; sort; page."""
        models = read_models()
        return paged("decisions", min_position, pagination_parameters, models.decisions,
                     ROWS[rs.DecisionRow], "decisions", **filters)  # fmt: skip


@blp.route("/ccgs/<ccg>/decision", endpoint="ccg-decision")
class CCGDecisionView(MethodView):
    @allow(ACTION)
    @blp.arguments(rs.SchemeQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(
        200,
        description="The decision document of docs/contract.md, from the read model.",
        headers=PROJECTION_POSITION,
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
    @_paged_view(rs.TimelineQuery, rs.TimelineRow)
    @blp.alt_response(404, "NOT_FOUND")
    def get(
        self, ccg: str, scheme: str, pagination_parameters: PaginationParameters,
        min_position: int | None = None,
    ) -> Any:  # fmt: skip
        """Every change of a CCG's payable amount or status, with the event that caused it."""
        _known(ccg)
        models = read_models()
        return paged("decisions", min_position, pagination_parameters, models.timeline,
                     ROWS[rs.TimelineRow], f"timeline-{ccg}", ccg, scheme)  # fmt: skip


@blp.route("/summaries", endpoint="summaries")
class SummariesView(MethodView):
    @_paged_view(rs.SummaryQuery, rs.SummaryRow)
    def get(
        self, pagination_parameters: PaginationParameters, min_position: int | None = None,
        **filters: Any,
    ) -> Any:  # fmt: skip
        """Totals by England, region or area team: CCGs by status, payable, share of the pot."""
        models = read_models()
        filename = f"summaries-{filters.get('group_by')}"
        return paged("summaries", min_position, pagination_parameters, models.summaries,
                     ROWS[rs.SummaryRow], filename, **filters)  # fmt: skip


@blp.route("/attainment", endpoint="attainment")
class AttainmentView(MethodView):
    @_paged_view(rs.AttainmentQuery, rs.AttainmentRow)
    def get(
        self, pagination_parameters: PaginationParameters, min_position: int | None = None,
        **filters: Any,
    ) -> Any:  # fmt: skip
        """Measures and constitution standards: CCGs that met each, did not, or are pending."""
        models = read_models()
        return paged("attainment", min_position, pagination_parameters, models.attainment,
                     ROWS[rs.AttainmentRow], "attainment", **filters)  # fmt: skip


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
