"""The tamper-evident log over HTTP (issue 5): signed checkpoints, proofs and leaves.

A thin adapter over :class:`ledger.integrity.documents.LogDocuments`, so the
answers are exactly what ``qp-ledger checkpoint|proof|leaf`` print, and
:mod:`ledger.integrity.verifier` checks them from files alone:

* ``GET /log/checkpoint`` — the latest checkpoint, a C2SP signed note
  (``text/plain``), as transparency-log tools fetch it;
* ``GET /log/checkpoint.json`` — the same, with its parts and the
  decision-document form of the tree head (``log``);
* ``GET /log/key`` — the public verifier key that checks the signatures;
* ``GET /log/consistency?first=M&second=N`` — the tree of N extends that of M;
* ``GET /log/events/{position}/inclusion?tree_size=N`` — the event is in the
  tree of N leaves;
* ``GET /log/events/{position}/leaf`` — the event's canonical leaf bytes.

Who may read (docs/security.md): checkpoints, the key and consistency proofs
carry no event content, so every role that reads decisions may fetch them; an
event's leaf (its payload) and inclusion proof follow ``read-ccg`` — a ``ccg``
token its own CCG's events, an ``area-team`` token its area's, the Board and
auditors every event. Reporters read none of it.

The signing key is the file ``QP_LEDGER_SIGNING_KEY_FILE`` (created on first
use, and the server log says so, naming the file and the verifier key).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from flask import Response, current_app
from flask.views import MethodView

from api.auth import acts_for, allow, current_token
from api.context import ledger
from api.jsonio import Blueprint
from api.problems import Problem
from api.schemas.integrity import (
    CheckpointDocument,
    ConsistencyProof,
    ConsistencyQuery,
    InclusionProof,
    InclusionQuery,
    Leaf,
    VerifierKey,
)
from api.schemas.parameters import POSITION
from ledger.domain.ccgs import ccgs
from ledger.domain.determinations import determinations_id
from ledger.domain.record import stream_id
from ledger.domain.scheme import schemes
from ledger.integrity.checkpoint import CheckpointError, Signer
from ledger.integrity.documents import (
    DamagedEvent,
    InvalidTreeSize,
    LogDocuments,
    UnknownPosition,
)
from ledger.integrity.leaf import LeafFormatError, decode_leaf
from ledger.integrity.signed_head import SigningRefused
from ledger.integrity.signing import (
    DEFAULT_ORIGIN,
    LOG_ORIGIN,
    SIGNING_KEY_FILE,
    created_message,
    default_key_file,
    load_signer,
)

blp = Blueprint(
    "log",
    __name__,
    url_prefix="/log",
    description="The tamper-evident log: signed checkpoints, inclusion and consistency "
    "proofs, leaves (RFC 9162 hashing, C2SP signed notes; docs/integrity.md).",
)
log = logging.getLogger(__name__)
_signer_lock = threading.Lock()


# -- collaborators ------------------------------------------------------------------------


def documents() -> LogDocuments:
    return LogDocuments(ledger().store)


def signer() -> Signer:
    """The app's checkpoint signer, loaded (or created, and logged) on first use."""
    found: Signer | None = current_app.extensions.get("qp_log_signer")
    if found is not None:
        return found
    with _signer_lock:
        found = current_app.extensions.get("qp_log_signer")
        if found is not None:
            return found
        configured = current_app.config.get(SIGNING_KEY_FILE)
        path = Path(configured) if configured else default_key_file(ledger().database_url)
        origin = current_app.config.get(LOG_ORIGIN) or DEFAULT_ORIGIN
        try:
            found, created = load_signer(path, origin)
        except CheckpointError as e:
            log.error("checkpoint signing key unavailable: %s", e)
            raise Problem(
                503,
                "signing-key-unavailable",
                "The checkpoint signing key cannot be used; the server log says why.",
            ) from None
        if created:
            log.warning("%s", created_message(path, found))
        current_app.extensions["qp_log_signer"] = found
        return found


def signed_checkpoint() -> dict[str, Any]:
    """Today's head, signed, or 503 when it does not extend the last signed one (a fork)."""
    try:
        return documents().checkpoint(signer())
    except SigningRefused as e:
        raise Problem(503, "signing-refused", e.message) from None


@functools.cache
def _ccg_of_streams() -> dict[str, str]:
    """Every CCG record's and determinations stream's id -> its CCG code."""
    out: dict[str, str] = {}
    for ccg in ccgs():
        for scheme in schemes():
            out[str(stream_id(ccg, scheme))] = ccg
            out[str(determinations_id(ccg, scheme))] = ccg
    return out


def ccg_of_stream(stream: str) -> str | None:
    try:
        return _ccg_of_streams().get(str(UUID(stream)))
    except ValueError:
        return None


def readable_event(docs: LogDocuments, position: int) -> None:
    """404 if there is no such event; 403 if this CCG or area team may not read it."""
    token = current_token()
    if token.role not in ("ccg", "area-team"):
        return  # the Board and auditors read every event (existence: the caller's 404)
    try:
        with refusals():
            _, data = docs.leaf_bytes(position)
        ccg = ccg_of_stream(decode_leaf(data).stream_id)
    except LeafFormatError:
        ccg = None
    if ccg is None or not acts_for(token, ccg):
        raise Problem(
            403,
            "forbidden",
            f"This {token.role} token acts for {token.org}; the event at position {position} "
            "is not a record of "
            + ("that CCG." if token.role == "ccg" else "a CCG of that area team."),
        )


@contextmanager
def refusals() -> Iterator[None]:
    """The log's refusals as problem documents (404, 409, 422), naming the field."""
    try:
        yield
    except UnknownPosition as e:
        item = {"field": "position", "in": "path", "message": e.message}
        raise Problem(404, "unknown-position", e.message, errors=[item]) from None
    except DamagedEvent as e:
        # An event changed outside the ledger so that it cannot even be encoded.
        raise Problem(409, "damaged-event", e.message) from None
    except InvalidTreeSize as e:
        found: dict[str, Any] = {"field": e.field, "message": e.message}
        if e.allowed is not None:
            found["allowed"] = e.allowed
        raise Problem(422, "invalid-tree-size", e.message, errors=[found]) from None


# -- views --------------------------------------------------------------------------------


@blp.route("/checkpoint", endpoint="checkpoint")
class CheckpointView(MethodView):
    @allow("read-log")
    @blp.response(
        200,
        {"type": "string"},
        content_type="text/plain",
        description="A C2SP tlog-checkpoint signed note: origin, tree size, base64 root "
        "hash, a blank line, an Ed25519 signature line.",
    )
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self) -> Response:
        """The latest checkpoint, as a signed note (for transparency-log tools).

        Save it: later, a consistency proof from its tree size shows today's
        log still extends it (`qp-ledger verify --checkpoint FILE` does that
        from the database; `python -m ledger.integrity.verifier` from files).
        """
        note = signed_checkpoint()["checkpoint"]
        return current_app.response_class(note, mimetype="text/plain")


@blp.route("/checkpoint.json", endpoint="checkpoint-json")
class CheckpointJsonView(MethodView):
    @allow("read-log")
    @blp.response(200, CheckpointDocument)
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self) -> dict[str, Any]:
        """The latest checkpoint, with its parts and the verifier key.

        `log` has the form of a decision document's `log`, so the two can be
        compared directly.
        """
        return signed_checkpoint()


@blp.route("/key", endpoint="key")
class KeyView(MethodView):
    @allow("read-log")
    @blp.response(200, VerifierKey)
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self) -> dict[str, Any]:
        """The public verifier key of the checkpoints (publish it; keep a copy)."""
        return LogDocuments.verifier_key(signer())


@blp.route("/consistency", endpoint="consistency")
class ConsistencyView(MethodView):
    @allow("read-log")
    @blp.arguments(ConsistencyQuery, location="query", as_kwargs=True)
    @blp.response(200, ConsistencyProof)
    def get(self, first: int, second: int | None = None) -> dict[str, Any]:
        """A consistency proof: the tree of `second` leaves extends the tree of `first`.

        Check it with `verify_consistency(first, second, path, root1, root2)`,
        taking the roots from checkpoints you trust, not from this answer.
        """
        with refusals():
            return documents().consistency(first, second)


@blp.route("/events/<int:position>/inclusion", endpoint="inclusion", parameters=[POSITION])
class InclusionView(MethodView):
    @allow("read-log-events")
    @blp.arguments(InclusionQuery, location="query", as_kwargs=True)
    @blp.response(200, InclusionProof)
    @blp.alt_response(404, "NOT_FOUND")
    def get(self, position: int, tree_size: int | None = None) -> dict[str, Any]:
        """An inclusion proof: the event at `position` is in the tree of `tree_size` leaves.

        Check it with `verify_inclusion(leaf_hash(leaf bytes), leaf_index,
        tree_size, path, root)`, the root from a checkpoint of that size.
        """
        docs = documents()
        readable_event(docs, position)
        with refusals():
            return docs.inclusion(position, tree_size)


@blp.route("/events/<int:position>/leaf", endpoint="leaf", parameters=[POSITION])
class LeafView(MethodView):
    @allow("read-log-events")
    @blp.response(200, Leaf)
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(409, "CONFLICT")
    def get(self, position: int) -> dict[str, Any]:
        """The event's canonical leaf bytes (base64), its leaf hash and decoded fields.

        Rebuilt from the stored event: if the event was edited, these bytes no
        longer hash to the leaf an inclusion proof commits to.
        """
        docs = documents()
        readable_event(docs, position)
        with refusals():
            return docs.leaf(position)
