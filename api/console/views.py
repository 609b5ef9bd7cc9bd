"""The console's pages and forms: each asks ``require`` (the API's role check) first.

Pages read what the JSON API reads — the same service calls, so a page and
the API can never disagree — and forms post to the same service methods as
the API's writes, with the signed-in token's actor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from api import report_schemas as rs
from api.console import (
    PREFIX,
    SignInRequired,
    csrf_ok,
    csrf_token,
    may,
    require,
    sign_in,
    signed_in,
)
from api.console.charts import Mark, bars, pounds, step_chart
from api.context import ledger
from api.problems import Problem, ledger_status
from api.reports import read_models, to_csv
from ledger.adapters.tokens import Token
from ledger.domain.ccgs import ccgs, get_ccg
from ledger.domain.errors import LedgerError
from ledger.domain.scheme import schemes
from ledger.projections import ReadModelNotReady
from ledger.projections.read import DECISION_SORTS, share

bp = Blueprint(
    "console",
    __name__,
    url_prefix=PREFIX,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
DEFAULT_SCHEME = "qp-2013-14"
STATUSES = ("final", "provisional")
#: The headers every console page carries: no framing, no script or style from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@bp.after_request
def headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.before_request
def refuse_forged_forms() -> BaseResponse | None:
    """Every POST carries the session's CSRF token (SameSite=Strict is the second wall)."""
    if request.method == "POST" and not csrf_ok():
        return page(
            "error.html",
            400,
            title="Form refused",
            message="This form did not come from your console session (or the session "
            "ended). Nothing was changed. Reload the page and try again.",
        )
    return None


@bp.app_template_global()
def csrf_field() -> Any:
    from markupsafe import Markup

    return Markup(f'<input type="hidden" name="csrf_token" value="{csrf_token()}">')


@bp.app_template_filter("pounds")
def pounds_filter(pence: int | None) -> str:
    return pounds(pence)


@bp.app_template_filter("percent")
def percent(value: str | Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value) * 100:.1f}%"


def page(template: str, status: int = 200, **context: Any) -> Response:
    token = signed_in() if "token" in session else None
    html = render_template(
        f"console/{template}",
        me=token,
        home_ccg=token.org if token is not None and token.role == "ccg" else None,
        may_overview=token is not None and may(token, "read-reports"),
        default_scheme=DEFAULT_SCHEME,
        **context,
    )
    return Response(html, status=status, mimetype="text/html")


def ccg_page(template: str, ccg: str, scheme: str, status: int = 200, **context: Any) -> Response:
    """A page about one CCG's record in one scheme (its header and links need both)."""
    return page(template, status, ccg=get_ccg(ccg), scheme=scheme, **context)


@bp.errorhandler(SignInRequired)
def to_sign_in(_: SignInRequired) -> BaseResponse:
    return redirect(url_for("console.sign_in_page", next=request.full_path.rstrip("?")))


@bp.errorhandler(Problem)
def refused(e: Problem) -> Response:
    titles = {403: "Not allowed", 404: "Not found", 503: "Not ready yet"}
    return page("error.html", e.status, title=titles.get(e.status, "Refused"), message=e.detail)


@bp.errorhandler(LedgerError)
def ledger_refused(e: LedgerError) -> Response:
    return page("error.html", ledger_status(e), title="Refused", message=e.message)


@bp.errorhandler(ReadModelNotReady)
def not_ready(e: ReadModelNotReady) -> Response:
    return page("error.html", 503, title="Not ready yet", message=e.message)


def scheme_arg() -> str:
    scheme = request.args.get("scheme") or DEFAULT_SCHEME
    if scheme not in schemes():
        raise Problem(404, "unknown-scheme", f"There is no scheme {scheme!r}.")
    return scheme


def int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise Problem(400, "validation-error", f"{name} must be a whole number, not {raw!r}.")
    return int(raw)


# -- signing in and out ---------------------------------------------------------------


def safe_next(target: str | None) -> str | None:
    """Only a console path is a place to return to after signing in (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/"):
        return None
    return target


@bp.get("/sign-in")
def sign_in_page() -> Response:
    return page("sign_in.html", next=safe_next(request.args.get("next")))


@bp.post("/sign-in")
def sign_in_post() -> BaseResponse:
    token = sign_in(request.form.get("token", ""))
    if token is None:
        return page(
            "sign_in.html",
            401,
            error="That token is unknown or revoked. Tokens are made with "
            "`qp-ledger tokens create`.",
            next=safe_next(request.form.get("next")),
        )
    return redirect(safe_next(request.form.get("next")) or url_for("console.home"), code=303)


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    session.clear()
    return redirect(url_for("console.sign_in_page"), code=303)


@bp.get("/")
def home() -> BaseResponse:
    token = signed_in()
    if token is None:
        return redirect(url_for("console.sign_in_page"))
    if may(token, "read-reports"):
        return redirect(url_for("console.overview"))
    if token.role == "ccg" and token.org:
        return redirect(url_for("console.decision", ccg=token.org, scheme=DEFAULT_SCHEME))
    mine = [
        c for c in ccgs().values() if may(token, "read-ccg", ccg=c.ods_code, scheme=DEFAULT_SCHEME)
    ]
    return page("home.html", title="Your CCGs", ccgs=mine)


# -- national overview ----------------------------------------------------------------


def overview_rows(scheme: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(every CCG's row in the table's sort order, the filtered rows, read-model position)."""
    sort = request.args.get("sort") or "ccg"
    if sort.lstrip("-") not in DECISION_SORTS:
        sort = "ccg"
    result = read_models().decisions(scheme=scheme, sort=sort, page_size=1000)
    region, area = request.args.get("region"), request.args.get("area_team")
    status, text = request.args.get("status"), (request.args.get("q") or "").strip().lower()
    shown = [
        r
        for r in result.items
        if (not region or r["region_code"] == region)
        and (not area or r["area_team_code"] == area)
        and (not status or r["status"] == status)
        and (not text or text in r["ccg"].lower() or text in r["ccg_name"].lower())
    ]
    return result.items, shown, result.position


@bp.get("/overview")
def overview() -> Response:
    require("read-reports")
    scheme = scheme_arg()
    everyone, shown, position = overview_rows(scheme)
    pot = sum(int(r["maximum_pence"]) for r in everyone)
    payable = sum(int(r["payable_pence"]) for r in everyone)
    regions = read_models().summaries(scheme=scheme, group_by="region", page_size=1000).items
    areas = read_models().summaries(scheme=scheme, group_by="area_team", page_size=1000).items
    return page(
        "overview.html",
        title="National overview",
        scheme=scheme,
        schemes=list(schemes()),
        rows=shown,
        total_ccgs=len(everyone),
        pot=pot,
        payable=payable,
        share_paid=share(payable, pot),
        paid_nothing=sum(1 for r in everyone if not r["payable_pence"]),
        shown_payable=sum(int(r["payable_pence"]) for r in shown),
        position=position,
        region_chart=bars(regions, title="Payable and pot by region"),
        area_chart=bars(areas, title="Payable and pot by area team"),
        regions=sorted({(r["region_code"], r["region_name"]) for r in everyone}),
        areas=sorted({(r["area_team_code"], r["area_team_name"]) for r in everyone}),
        args=request.args.to_dict(),
        sort=request.args.get("sort") or "ccg",
    )


@bp.get("/overview.csv")
def overview_csv() -> Response:
    require("read-reports")
    scheme = scheme_arg()
    _, shown, position = overview_rows(scheme)
    schema = rs.DecisionRow()
    response = Response(to_csv(schema.dump(shown, many=True), schema), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    response.headers["Content-Disposition"] = f'attachment; filename="decisions-{scheme}.csv"'
    response.headers["X-Projection-Position"] = str(position)
    return response


# -- a CCG's decision -----------------------------------------------------------------


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


# -- issued decisions and appeals -----------------------------------------------------


def determinations_page(ccg: str, scheme: str, status: int = 200, **extra: Any) -> Response:
    token = require("read-determinations", ccg=ccg, scheme=scheme)
    chain = ledger().determinations.chain(ccg, scheme)
    to_revise = [
        a["appeal_id"]
        for a in chain["appeals"]
        if a["status"] == "upheld" and not a.get("revised_by")
    ]
    return ccg_page(
        "determinations.html",
        ccg,
        scheme,
        status,
        title=f"{ccg}: issued decisions and appeals",
        chain=chain,
        open_appeals=[a for a in chain["appeals"] if a["status"] == "lodged"],
        to_revise=to_revise,
        can={
            kind: may(token, kind, ccg=ccg, scheme=scheme)
            for kind in ("issue-decisions", "lodge-appeal", "add-evidence", "determine-appeal")
        },
        **extra,
    )


@bp.get("/ccgs/<ccg>/<scheme>/determinations")
def determinations(ccg: str, scheme: str) -> Response:
    return determinations_page(ccg, scheme)


def write(
    ccg: str,
    scheme: str,
    token: Token,
    method: str,
    done: Callable[[dict[str, Any]], str],
    *args: Any,
    **fields: Any,
) -> BaseResponse:
    """A form's write: the API's service method, as the signed-in token's actor.

    A refusal shows the page again with the ledger's words; the service
    validates before it appends, so a refused form has stored nothing. A write
    that went through redirects (303), so reloading the page cannot repeat it.
    """
    service = getattr(ledger().determinations, method)
    try:
        result = service(ccg, scheme, *args, actor=token.actor, **fields)
    except LedgerError as e:
        return determinations_page(ccg, scheme, ledger_status(e), error=e.message)
    session["flash"] = done(result)
    return redirect(url_for("console.determinations", ccg=ccg, scheme=scheme), code=303)


def _form(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.post("/ccgs/<ccg>/<scheme>/issue")
def issue(ccg: str, scheme: str) -> BaseResponse:
    token = require("issue-decisions", ccg=ccg, scheme=scheme)
    return write(
        ccg,
        scheme,
        token,
        "issue",
        lambda issued: f"Issued {issued['issue_id']}.",
        reason=_form("reason") or None,
        appeal_id=_form("appeal_id") or None,
        force=request.form.get("force") == "yes",
    )


@bp.post("/ccgs/<ccg>/<scheme>/appeals")
def lodge(ccg: str, scheme: str) -> BaseResponse:
    token = require("lodge-appeal", ccg=ccg, scheme=scheme)
    disputes = [d.strip() for d in _form("disputes").split(",") if d.strip()]
    return write(
        ccg,
        scheme,
        token,
        "lodge_appeal",
        lambda appeal: f"Lodged {appeal['appeal_id']}.",
        _form("issue_id"),
        grounds=_form("grounds"),
        disputes=disputes or None,
    )


@bp.post("/ccgs/<ccg>/<scheme>/evidence")
def evidence(ccg: str, scheme: str) -> BaseResponse:
    """Evidence text and, optionally, a file known by its SHA-256 (hashed in the browser).

    The bytes never leave the user's machine: the ledger records the digest,
    size, name and media type, which prove later which file was meant.
    """
    token = require("add-evidence", ccg=ccg, scheme=scheme)
    attachments = None
    if _form("sha256"):
        size = _form("size")
        attachments = [
            {
                "name": _form("file_name"),
                "sha256": _form("sha256"),
                "size": int(size) if size.isdigit() else size,
                "media_type": _form("media_type") or "application/octet-stream",
            }
        ]
    return write(
        ccg,
        scheme,
        token,
        "add_evidence",
        lambda _: f"Evidence added to {_form('appeal_id')}.",
        _form("appeal_id"),
        text=_form("text"),
        attachments=attachments,
    )


@bp.post("/ccgs/<ccg>/<scheme>/determination")
def determine(ccg: str, scheme: str) -> BaseResponse:
    token = require("determine-appeal", ccg=ccg, scheme=scheme)
    remedy: list[dict[str, Any]] = []
    for number, line in enumerate(_form("remedy").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            command = json.loads(line)
        except ValueError:
            command = None
        if not isinstance(command, dict):
            message = f"remedy line {number}: not a JSON object (one command per line)."
            return determinations_page(ccg, scheme, 422, error=message)
        remedy.append({"ccg": ccg, "scheme": scheme, **command})
    return write(
        ccg,
        scheme,
        token,
        "determine_appeal",
        lambda appeal: f"{appeal['appeal_id']} determined: {_form('outcome')}.",
        _form("appeal_id"),
        outcome=_form("outcome"),
        determination=_form("determination"),
        remedy=remedy,
    )


@bp.app_context_processor
def flashed() -> dict[str, Any]:
    def take_flash() -> str | None:
        message = session.pop("flash", None) if request.path.startswith(PREFIX) else None
        return message if isinstance(message, str) else None

    return {"take_flash": take_flash}


# -- one issued decision: the letter and its verification -----------------------------


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
