"""Issued decisions and appeals of one CCG: the page, and its forms (issue, lodge,
add evidence, determine), each a call of the API's own service method."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Response, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from api.console import may, require
from api.console.pages import bp, ccg_page
from api.context import ledger
from api.problems import ledger_status
from ledger.adapters.tokens import Token
from ledger.domain.errors import LedgerError


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
