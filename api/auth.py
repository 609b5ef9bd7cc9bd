"""Who may do what: bearer tokens, roles, and the role x endpoint matrix.

Every view declares one *action* with ``@allow(...)``; the decorator runs
before the body is parsed, so an unauthorised caller learns nothing about the
body and nothing is stored. The rules (docs/security.md is their prose form,
tests/api/test_roles.py checks every pair):

* ``ccg`` writes its own submissions, local measure choice and financial
  declaration, and reads its own decision and history;
* ``area-team`` agrees thresholds for the CCGs of its area (from the reference
  data), records the post-infection review assignment of HCAI cases reported
  against them, and reads them;
* ``board`` flags and rescinds quality failures, records populations and
  constitution results, reports and withdraws HCAI cases, and reads everything;
* ``auditor`` reads everything and writes nothing;
* ``reporter`` reads reports only (reference data; no decisions or history).

Issued decisions and appeals (``DETERMINATIONS``): the Board issues decisions
and determines appeals; a CCG lodges appeals against its own decisions and
adds evidence; the CCG, the Board and auditors read the chain; reporters see
appeal counts only.

The actor stored on each event comes from the token (``ccg:06F#<token id>``),
never from the request body.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request

from api.problems import Problem
from ledger.adapters.tokens import ROLES, Token, TokenStore
from ledger.domain.ccgs import get_ccg
from ledger.domain.commands import COMMANDS
from ledger.domain.errors import UnknownScheme
from ledger.domain.scheme import get_scheme

F = TypeVar("F", bound=Callable[..., Any])

#: Command type -> the one role that may record it (each command class says).
WRITERS: dict[str, str] = {kind: command.writer for kind, command in COMMANDS.items()}
#: Read action -> the roles that may perform it (CCG-scoped for ccg and area-team).
READERS: dict[str, tuple[str, ...]] = {
    "read-ccg": ("ccg", "area-team", "board", "auditor"),
    "read-reference": ROLES,
    # Reports span CCGs, so only roles that may read every CCG's figures (api/reports.py).
    "read-reports": ("board", "auditor", "reporter"),
    # The tamper-evident log (issue 5, api/views/integrity.py). Checkpoints, the verifier
    # key and consistency proofs hold no event content: every role that reads decisions
    # may check them. An event's leaf (its payload) and inclusion proof are scoped like
    # read-ccg, to the event's CCG (checked in the view). Reporters read none of it.
    "read-log": ("ccg", "area-team", "board", "auditor"),
    "read-log-events": ("ccg", "area-team", "board", "auditor"),
}
#: Reads that span every CCG, so "own CCG" / "area" scopes do not apply.
UNSCOPED = frozenset({"read-reference", "read-log"})
#: Issued decisions and appeals (issue 6): action -> the roles that may perform it.
#: On a path naming a CCG, ``ccg`` acts for its own CCG only (``acts_for``), so a
#: CCG can neither read nor appeal another CCG's decisions.
DETERMINATIONS: dict[str, tuple[str, ...]] = {
    "issue-decisions": ("board",),
    "determine-appeal": ("board",),
    "lodge-appeal": ("ccg",),
    "add-evidence": ("ccg",),
    # Appeals are between a CCG and the Board; auditors see the whole chain.
    "read-determinations": ("ccg", "board", "auditor"),
    # Reporters see how many appeals there are, never who appealed or why.
    "read-appeal-counts": ("board", "auditor", "reporter"),
    # Erasing a person's words from an event (UK GDPR): the Board alone (api/views/erasures.py).
    "erase-text": ("board",),
}
#: Actions that take a JSON body: 415 for any other content type, before parsing.
WITH_BODY = frozenset(
    {"write", "issue-decisions", "determine-appeal", "lodge-appeal", "add-evidence", "erase-text"}
)
#: How a refusal names an action ("A reporter token may not ...").
ACTION_WORDS: dict[str, str] = {
    "read-ccg": "read CCG decisions and history",
    "read-reference": "read reference data",
    "read-reports": "read reports",
    "issue-decisions": "issue decisions",
    "determine-appeal": "determine appeals",
    "lodge-appeal": "lodge appeals",
    "add-evidence": "add evidence to appeals",
    "read-determinations": "read issued decisions and appeals",
    "read-appeal-counts": "read appeal counts",
    "erase-text": "erase an event's words",
    "read-log": "read the log's checkpoints and proofs",
    "read-log-events": "read the log's leaves and inclusion proofs",
}
PUBLIC = "public"


@dataclass(frozen=True)
class Action:
    """What a view does: ``write`` a command type, ``read-ccg``, ``read-reference``, public."""

    kind: str
    command: str | None = None

    def roles(self) -> tuple[str, ...]:
        if self.kind == "write":
            assert self.command is not None
            return (WRITERS[self.command],)
        return READERS.get(self.kind) or DETERMINATIONS.get(self.kind, ())

    def describe(self) -> str:
        if self.kind == PUBLIC:
            return "No token needed."
        roles = self.roles()
        scopes = {"ccg": "for its own CCG", "area-team": "for the CCGs of its area"}
        names = ", ".join(
            f"`{r}` ({scopes[r]})" if r in scopes and self.kind not in UNSCOPED else f"`{r}`"
            for r in roles
        )
        return f"Allowed: {names}."


def tokens() -> TokenStore:
    store: TokenStore = current_app.extensions["qp_tokens"]
    return store


def current_token() -> Token:
    token: Token = g.qp_token
    return token


def authenticate() -> Token:
    header = request.headers.get("Authorization", "")
    challenge = 'Bearer realm="qp-ledger"'
    scheme, _, credentials = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not credentials.strip():
        raise Problem(
            401,
            "unauthorized",
            "Send 'Authorization: Bearer <token>'; "
            "tokens are created with `qp-ledger tokens create`.",
            headers={"WWW-Authenticate": challenge},
        )
    token = tokens().authenticate(credentials.strip())
    if token is None:
        raise Problem(
            401,
            "unauthorized",
            "The bearer token is unknown or revoked.",
            headers={"WWW-Authenticate": challenge + ', error="invalid_token"'},
        )
    return token


def acts_for(token: Token, ccg: str) -> bool:
    """Whether a token's organisation covers this CCG (its own, or its area team's)."""
    if token.role == "ccg":
        return token.org == ccg
    if token.role == "area-team":
        found = get_ccg(ccg)
        return found is not None and found.area_team_code == token.org
    return token.role in ("board", "auditor")


def check_subject(ccg: str, scheme: str) -> None:
    """A CCG or scheme in the path that doesn't exist is a 404, not a validation error."""
    if get_ccg(ccg) is None:
        raise Problem(
            404, "unknown-ccg", f"There is no CCG with ODS code {ccg!r}; see GET /reference/ccgs."
        )
    known_scheme(scheme)


def known_scheme(scheme: str) -> None:
    """A scheme in the path that doesn't exist is a 404."""
    try:
        get_scheme(scheme)
    except UnknownScheme as e:
        raise Problem(
            404,
            "unknown-scheme",
            f"There is no scheme {scheme!r}; see GET /reference/schemes.",
            errors=[{"field": "scheme", "message": e.message, "allowed": e.allowed}],
        ) from None


def authorise(action: Action, view_args: dict[str, Any]) -> Token:
    return permit(authenticate(), action, view_args)


def permit(token: Token, action: Action, view_args: dict[str, Any]) -> Token:
    """The role rules for an authenticated token: the API's and the console's one check."""
    if token.role not in action.roles():
        what = (
            f"record {action.command}"
            if action.kind == "write"
            else ACTION_WORDS.get(action.kind, action.kind)
        )
        raise Problem(
            403, "forbidden", f"A {token.role} token may not {what}. " + action.describe()
        )
    ccg, scheme = view_args.get("ccg"), view_args.get("scheme")
    if ccg is not None and scheme is not None:
        check_subject(ccg, scheme)
        if not acts_for(token, ccg):
            raise Problem(
                403,
                "forbidden",
                f"This {token.role} token acts for {token.org}, not for CCG {ccg}.",
            )
    return token


def require_json() -> None:
    """Writes take JSON only; anything else is 415 before the body is read."""
    if request.mimetype != "application/json":
        sent = request.mimetype or "no Content-Type"
        raise Problem(
            415,
            "unsupported-media-type",
            f"The body must be sent as application/json, not {sent}.",
            errors=[
                {
                    "field": "Content-Type",
                    "in": "headers",
                    "message": f"got {sent}",
                    "allowed": ["application/json"],
                }
            ],
        )


def allow(kind: str, command: str | None = None) -> Callable[[F], F]:
    """Declare (and enforce, before anything else runs) the action a view performs.

    Put it above flask-smorest's decorators: it runs first, so authentication,
    authorisation and the content-type check all happen before the body is parsed.
    """
    action = Action(kind, command)

    def decorate(view: F) -> F:
        if kind == PUBLIC:
            wrapper = view
            doc: dict[str, Any] = {"security": []}
        else:

            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                g.qp_token = authorise(action, request.view_args or {})
                if kind in WITH_BODY:
                    require_json()
                return view(*args, **kwargs)

            responses = {"401": "UNAUTHORIZED", "403": "FORBIDDEN"}
            if kind in WITH_BODY:
                responses["415"] = "UNSUPPORTED_MEDIA_TYPE"
                responses["413"] = "REQUEST_ENTITY_TOO_LARGE"
            doc = {"security": [{"bearerAuth": []}], "responses": responses}
        apidoc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
        manual = apidoc.setdefault("manual_doc", {})
        manual.update({k: v for k, v in doc.items() if k != "responses"})
        manual.setdefault("responses", {}).update(doc.get("responses", {}))
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]
        wrapper._qp_action = action  # type: ignore[attr-defined]
        # The docstring becomes the OpenAPI summary and description: say who may call.
        wrapper.__doc__ = f"{inspect.cleandoc(view.__doc__ or '')}\n\n{action.describe()}"
        return wrapper  # type: ignore[return-value]

    return decorate
