"""The console's blueprint and what every page shares: rendering, security headers,
the CSRF check, template filters, error pages and query arguments.

Pages read what the JSON API reads — the same service calls, so a page and
the API can never disagree — and forms post to the same service methods as
the API's writes, with the signed-in token's actor. Each page asks
``require`` (the API's role check) first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from api.console import PREFIX, SignInRequired, csrf_ok, csrf_token, may, signed_in
from api.console.charts import pounds
from api.problems import Problem, ledger_status
from ledger.domain.ccgs import get_ccg
from ledger.domain.errors import LedgerError
from ledger.domain.scheme import schemes
from ledger.projections import ReadModelNotReady

bp = Blueprint(
    "console",
    __name__,
    url_prefix=PREFIX,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
DEFAULT_SCHEME = "qp-2013-14"
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


@bp.app_context_processor
def flashed() -> dict[str, Any]:
    def take_flash() -> str | None:
        message = session.pop("flash", None) if request.path.startswith(PREFIX) else None
        return message if isinstance(message, str) else None

    return {"take_flash": take_flash}
