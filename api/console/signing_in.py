"""Signing in and out, and the page a signed-in user lands on."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from api.console import PREFIX, may, sign_in, signed_in
from api.console.pages import DEFAULT_SCHEME, bp, page
from ledger.domain.ccgs import ccgs


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
