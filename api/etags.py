"""ETags on read documents, and If-Match on writes.

An ETag names the CCG's record version the document was computed from, plus a
digest of the exact bytes: ``"06F/qp-2013-14/v7/3f2a…"``. Sending it back as
``If-Match`` on a write means "only if the record is still at version 7";
the ledger checks that atomically with the write (412 otherwise).

The ETag is strong: the same tag means the same bytes. A decision pinned to a
log position (``?position=N``) never changes, so it is also marked
``immutable``; everything else must be revalidated (``no-cache``), which is
cheap: the API keeps served decision bodies by the log position they were
computed at (docs/api.md, "Caching").
"""

from __future__ import annotations

import hashlib

from flask import Response, current_app, request

from api.context import ledger
from api.problems import Problem


def make_etag(ccg: str, scheme: str, version: int, body: bytes) -> str:
    return f"{ccg}/{scheme}/v{version}/{hashlib.sha256(body).hexdigest()[:16]}"


#: How long a client or proxy may keep a position-pinned document: it never changes.
IMMUTABLE_SECONDS = 31_536_000
#: ``private``: the body is the same for every reader, but whether a token may
#: read it at all is not (403 for another CCG), so no shared cache may hold it.
IMMUTABLE = f"private, max-age={IMMUTABLE_SECONDS}, immutable"
#: The caller may keep it, but must revalidate (If-None-Match) before reuse.
REVALIDATE = "private, no-cache"


def tagged_json(document: object, ccg: str, scheme: str, version: int) -> tuple[bytes, str]:
    """The document's exact bytes and their ETag (what a cache of served bodies keeps)."""
    body = current_app.json.dumps(document).encode("utf-8")
    return body, make_etag(ccg, scheme, version, body)


def respond(body: bytes, etag: str, *, immutable: bool = False) -> Response:
    """The body with its ETag; 304 when the caller already has it."""
    if request.if_none_match.contains_weak(etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
    return response


def json_with_etag(document: object, ccg: str, scheme: str, version: int) -> Response:
    """The document as JSON, with its ETag; 304 when the caller already has it."""
    return respond(*tagged_json(document, ccg, scheme, version))


def expected_version(ccg: str, scheme: str) -> int | None:
    """The record version an If-Match header requires, or None when there is none."""
    header = request.headers.get("If-Match")
    if header is None or request.if_match.star_tag:
        return None
    versions = set()
    for tag in request.if_match.as_set():
        if not isinstance(tag, str):  # werkzeug yields None for some unparseable headers
            continue
        parts = tag.split("/")
        if len(parts) == 4 and parts[:2] == [ccg, scheme] and parts[2][1:].isdigit():
            versions.add(int(parts[2][1:]))
    if len(versions) == 1:
        return versions.pop()
    current = ledger().stream_version(ccg, scheme)
    if current in versions:
        return current
    raise Problem(
        412,
        "precondition-failed",
        f"If-Match names no current ETag of {ccg} in {scheme} "
        f"(the record is at version {current}).",
        errors=[
            {
                "field": "If-Match",
                "in": "headers",
                "message": "no ETag of this CCG's record at its current version",
            }
        ],
    )
