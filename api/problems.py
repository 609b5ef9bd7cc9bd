"""RFC 9457 problem documents: the one place errors become HTTP responses.

Every 4xx and 5xx the API sends is ``application/problem+json`` with ``type``,
``title``, ``status`` and ``detail``; validation problems add ``errors``, a
list of ``{"field", "message", "allowed"?}`` naming each bad field by its path
in the body (``measures[1].direction``) or its query/header name. Domain errors
(``ledger.errors``) are mapped to a status here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ledger.adapters.index_guard import IndexTampered
from ledger.adapters.key_codes import IdempotencyTampered
from ledger.domain.errors import (
    ConcurrencyConflict,
    DecisionUnchanged,
    IdempotencyKeyReused,
    InvalidCommand,
    LedgerError,
    NotFound,
    NothingRecorded,
    RuleViolation,
    UnknownCCG,
    UnknownMeasure,
    UnknownScheme,
)
from ledger.integrity.signed_head import SigningRefused
from ledger.service.contiguous import EventMissing
from ledger.service.erasure import SealedTextMissing

PROBLEM_MIMETYPE = "application/problem+json"
#: Problem types are URNs: stable identifiers, documented in docs/api.md, not web pages.
TYPE_PREFIX = "urn:qp-ledger:problem:"

#: Domain error -> HTTP status. A rule the command breaks is 422 (well-formed
#: JSON, unacceptable content); a write that lost a race is 409, or 412 when the
#: caller made it conditional with If-Match.
LEDGER_STATUS: dict[type[LedgerError], int] = {
    InvalidCommand: 422,
    UnknownCCG: 422,
    UnknownScheme: 422,
    UnknownMeasure: 422,
    RuleViolation: 422,
    IdempotencyKeyReused: 422,
    NotFound: 404,
    NothingRecorded: 404,
    DecisionUnchanged: 422,
    ConcurrencyConflict: 409,
    # The log does not extend the last signed checkpoint: the server cannot serve this now.
    SigningRefused: 503,
    # The index was changed outside the ledger: no decision is made from it.
    IndexTampered: 500,
    # A stream's versions have a gap: an event was removed outside the ledger.
    EventMissing: 500,
    # An idempotency row disagrees with its write's key code: no receipt is made from it.
    IdempotencyTampered: 500,
    # An event's sealed words are gone with no erasure recorded: changed outside the ledger.
    SealedTextMissing: 500,
}

TITLES: dict[str, str] = {
    "unknown-position": "No event at this log position",
    "invalid-tree-size": "The log cannot prove that for these tree sizes",
    "signing-key-unavailable": "The checkpoint signing key cannot be used",
    "damaged-event": "The stored event was changed outside the ledger",
    "tampered-index": "The log's index was changed outside the ledger",
    "tampered-events": "An event was removed from the log outside the ledger",
    "tampered-idempotency": "An idempotency row was changed outside the ledger",
    "tampered-sealed-text": "An event's stored words were removed outside the ledger",
    "invalid-command": "The command is not valid",
    "unknown-ccg": "Unknown CCG",
    "unknown-scheme": "Unknown scheme",
    "unknown-measure": "Unknown measure, criterion or standard",
    "rule-violation": "The command breaks a rule of the scheme",
    "idempotency-key-reused": "Idempotency-Key already used for another request",
    "concurrency-conflict": "The CCG's record moved on",
    "precondition-failed": "The CCG's record moved on since the ETag you sent",
    "validation-error": "The request does not match its schema",
    "malformed-json": "The body is not valid JSON",
    "unsupported-media-type": "Send the body as application/json",
    "unauthorized": "A valid bearer token is required",
    "forbidden": "Your token's role may not do this",
    "not-found": "Not found",
    "nothing-recorded": "Nothing was recorded yet for this CCG and scheme at that point",
    "decision-unchanged": "The decision is unchanged since the CCG's latest issue",
    "method-not-allowed": "Method not allowed",
    "content-too-large": "The body is too large",
    "internal-server-error": "Internal server error",
    "database-unavailable": "The database is unavailable; retry shortly",
    "not-ready": "Not ready",
}

#: Problem codes for the HTTP-level errors werkzeug raises (RFC 9110 names).
HTTP_CODES: dict[int, str] = {
    404: "not-found",
    405: "method-not-allowed",
    413: "content-too-large",
    415: "unsupported-media-type",
    500: "internal-server-error",
}

log = logging.getLogger(__name__)


class Problem(Exception):
    """An HTTP-level refusal raised inside api/ (auth, content type, path checks)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": TITLES.get(code, HTTPStatus(status).phrase),
        "status": status,
        "detail": detail,
        "instance": request.path,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE
    )
    for name, value in (headers or {}).items():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def ledger_status(error: LedgerError) -> int:
    for kind in type(error).__mro__:
        if kind in LEDGER_STATUS:
            return LEDGER_STATUS[kind]
    return 422


def handle_ledger_error(error: LedgerError) -> Response:
    status = ledger_status(error)
    code = error.code
    headers = {}
    if isinstance(error, ConcurrencyConflict):
        if error.field == "If-Match":
            status, code = 412, "precondition-failed"
        else:
            headers["Retry-After"] = "1"
    item: dict[str, Any] = {"message": error.message}
    if error.field is not None:
        item["field"] = error.field
    if error.allowed is not None:
        item["allowed"] = error.allowed
    return problem_response(status, code, error.message, errors=[item], headers=headers)


def handle_problem(problem: Problem) -> Response:
    return problem_response(
        problem.status,
        problem.code,
        problem.detail,
        errors=problem.errors,
        headers=problem.headers,
    )


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(error.get_headers()) if status != 500 else {}
    headers.update(data.get("headers") or {})
    if "messages" in data:  # webargs / flask-smorest validation failure
        errors = validation_errors(data["messages"], data.get("schema"))
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            status,
            "validation-error",
            f"Invalid field(s): {fields}",
            errors=errors,
            headers=headers,
        )
    if status >= 500:
        original = getattr(error, "original_exception", None)
        if isinstance(original, Exception):
            return handle_unexpected(original)
        if original is not None:
            log.error("unexpected error on %s %s", request.method, request.path, exc_info=original)
        detail = "The server failed to handle the request. " + outcome_unknown()
    elif status == 404:
        detail = f"There is no resource at {request.path}."
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.path}; allowed: " + ", ".join(
            getattr(error, "valid_methods", None) or []
        )
    elif status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"The body is larger than the {limit} bytes accepted; nothing was read."
    else:
        detail = error.description or HTTPStatus(status).phrase
    code = HTTP_CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "-")
    return problem_response(status, code, detail, headers=headers)


#: Errors that mean "the database did not answer" (connection lost, server
#: restarting, SQLite busy), as raised by SQLAlchemy, the DB-API drivers and
#: eventsourcing's wrappers of both. Names, not imports: psycopg2 is optional.
UNAVAILABLE = frozenset({"OperationalError", "InterfaceError", "DisconnectionError"})
#: Seconds a client should wait before retrying when the database is unavailable.
RETRY_AFTER_SECONDS = 2


def database_unavailable(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in UNAVAILABLE:
            return True
        current = current.__cause__ or current.__context__
    return False


def outcome_unknown() -> str:
    """What a failed request may have done: reads change nothing; a write may have committed."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return "Nothing was changed."
    return (
        "Whether the write was stored is not known: retry it with the same "
        "Idempotency-Key (a stored write is then answered, not repeated), or read the "
        "record's history before sending it again."
    )


def handle_unexpected(error: Exception) -> Response:
    if database_unavailable(error):
        # No parameters in the log line: hide_parameters is set on every engine.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, error)
        return problem_response(
            503,
            "database-unavailable",
            "The database did not answer. " + outcome_unknown(),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("unexpected error on %s %s", request.method, request.path, exc_info=error)
    return problem_response(
        500,
        "internal-server-error",
        "The server failed to handle the request. " + outcome_unknown(),
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(LedgerError, handle_ledger_error)
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)


# -- validation messages -> field paths ---------------------------------------

LOCATION_PREFIX = {"json": "", "query": "", "querystring": "", "headers": "", "view_args": ""}


def validation_errors(messages: Any, schema: ma.Schema | None = None) -> list[dict[str, Any]]:
    """Flatten webargs/marshmallow messages to ``[{field, message, allowed?}]``."""
    out: list[dict[str, Any]] = []
    if isinstance(messages, Mapping) and set(messages) <= set(LOCATION_PREFIX):
        for location, inner in messages.items():
            _flatten(inner, [], schema, out, location)
    else:
        _flatten(messages, [], schema, out, "json")
    return out


def _path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(body)"


def _flatten(
    node: Any, parts: list[str | int], schema: Any, out: list[dict[str, Any]], location: str
) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "_schema":
                _flatten(value, parts, schema, out, location)
            else:
                index = int(key) if isinstance(key, int) or str(key).isdigit() else str(key)
                _flatten(value, [*parts, index], schema, out, location)
        return
    messages = node if isinstance(node, list) else [node]
    for message in messages:
        if isinstance(message, Mapping):
            _flatten(message, parts, schema, out, location)
            continue
        item: dict[str, Any] = {"field": _path(parts), "message": str(message)}
        if location not in ("json", "query", "querystring"):
            item["in"] = location
        allowed = _allowed(schema, parts, str(message))
        if allowed is not None:
            item["allowed"] = allowed
        out.append(item)


def _allowed(schema: Any, parts: list[str | int], message: str) -> Any:
    """What is allowed at a path: the known fields for an unknown one, else an enum."""
    if not isinstance(schema, ma.Schema) or not parts:
        return None
    container: Any = schema
    for part in parts[:-1]:
        if isinstance(part, int):
            continue
        field = container.fields.get(part) if isinstance(container, ma.Schema) else None
        if isinstance(field, ma.fields.List):
            field = field.inner
        if isinstance(field, ma.fields.Nested):
            container = field.schema
        else:
            return None
    if not isinstance(container, ma.Schema):
        return None
    last = parts[-1]
    if message == "Unknown field.":
        return sorted(n for n, f in container.fields.items() if not f.dump_only)
    field = container.fields.get(last) if isinstance(last, str) else None
    if field is not None and "enum" in field.metadata:
        return list(field.metadata["enum"])
    return None
