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
from pathlib import Path
from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView
from marshmallow import fields

from api.auth import acts_for, allow, current_token
from api.context import ledger
from api.jsonio import Blueprint
from api.problems import Problem
from api.schemas import Document, LogPointer
from ledger.domain.ccgs import ccgs
from ledger.domain.determinations import determinations_id
from ledger.domain.record import stream_id
from ledger.domain.scheme import schemes
from ledger.integrity.checkpoint import CheckpointError, Signer
from ledger.integrity.leaf import LeafFormatError, decode_leaf
from ledger.integrity.documents import (
    DamagedEvent,
    InvalidTreeSize,
    LogDocuments,
    UnknownPosition,
)
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
#: Largest tree size or position a query may name (PostgreSQL BIGINT).
MAX_SIZE = 2**63 - 1
BASE64 = "Standard base64 (RFC 4648 §4)."

POSITION_PARAMETER = {
    "in": "path",
    "name": "position",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
    "description": "The event's log position (as in receipts, history and decisions).",
}


# -- schemas --------------------------------------------------------------------------


def _b64(description: str, **kwargs: Any) -> fields.String:
    return fields.String(
        required=True, metadata={"description": f"{description} {BASE64}", **kwargs}
    )


def _size(description: str) -> fields.Integer:
    return fields.Integer(required=True, metadata={"description": description, "minimum": 0})


class CheckpointDocument(Document):
    """The latest checkpoint: the signed note and its parts."""

    origin = fields.String(required=True, metadata={"description": "The log's name."})
    tree_size = _size("Events in the log.")
    root_hash = _b64("The Merkle tree's root hash, as in the note.")
    log = fields.Nested(
        LogPointer,
        required=True,
        metadata={"description": "The tree head as decision documents give it."},
    )
    checkpoint = fields.String(
        required=True, metadata={"description": "The C2SP signed note, exactly as signed."}
    )
    verifier_key = fields.String(
        required=True, metadata={"description": "The key that checks its signature."}
    )


class VerifierKey(Document):
    origin = fields.String(required=True, metadata={"description": "The log's name (key name)."})
    verifier_key = fields.String(
        required=True,
        metadata={
            "description": "`<name>+<key id>+<base64(0x01 ‖ Ed25519 public key)>`: the "
            "golang.org/x/mod/sumdb/note verifier key string."
        },
    )
    key_id = fields.String(required=True, metadata={"pattern": "^[0-9a-f]{8}$"})
    algorithm = fields.String(required=True, metadata={"enum": ["Ed25519"]})
    public_key = _b64("The 32-byte Ed25519 public key.")


class InclusionProof(Document):
    """RFC 9162 §2.1.3: the path from the event's leaf to the root of the tree."""

    position = fields.Integer(required=True, metadata={"description": "The event's position."})
    leaf_index = _size("The event's leaf index (its rank in the log, from 0).")
    tree_size = _size("The tree the proof is for.")
    leaf_hash = _b64("SHA-256(0x00 ‖ leaf bytes) as stored.")
    inclusion_path = fields.List(fields.String(), required=True, metadata={"description": BASE64})
    root_hash = _b64("The root of the tree of `tree_size` leaves.")


class ConsistencyProof(Document):
    """RFC 9162 §2.1.4: the tree of `tree_size_2` extends the tree of `tree_size_1`."""

    tree_size_1 = _size("The older tree.")
    tree_size_2 = _size("The newer tree.")
    consistency_path = fields.List(fields.String(), required=True, metadata={"description": BASE64})
    root_hash_1 = _b64("Root of the older tree.")
    root_hash_2 = _b64("Root of the newer tree.")


class LeafFields(Document):
    position = fields.Integer(required=True)
    stream_id = fields.String(required=True)
    version = fields.Integer(required=True)
    topic = fields.String(required=True)
    recorded_us = fields.Integer(
        required=True, metadata={"description": "Microseconds since the Unix epoch."}
    )
    previous_hash = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": f"The leaf hash of the stream's previous event. {BASE64}"},
    )
    payload = _b64("The stored event state, byte for byte.")


class Leaf(Document):
    """The canonical leaf bytes (format qp-ledger/leaf/v1, docs/integrity.md) of an event."""

    position = fields.Integer(required=True)
    leaf_index = _size("The event's leaf index.")
    format = fields.String(required=True, metadata={"enum": ["qp-ledger/leaf/v1"]})
    encoding = fields.String(required=True, metadata={"enum": ["base64"]})
    leaf = _b64("The leaf bytes.")
    leaf_hash = _b64("SHA-256(0x00 ‖ leaf bytes).")
    fields_ = fields.Nested(LeafFields, data_key="fields", attribute="fields", required=True)


class InclusionQuery(ma.Schema):
    tree_size = fields.Integer(
        validate=ma.validate.Range(min=1, max=MAX_SIZE),
        metadata={"description": "The tree to prove inclusion in (default: today's)."},
    )


class ConsistencyQuery(ma.Schema):
    first = fields.Integer(
        required=True,
        validate=ma.validate.Range(min=0, max=MAX_SIZE),
        metadata={"description": "The older tree size (e.g. a checkpoint you kept)."},
    )
    second = fields.Integer(
        validate=ma.validate.Range(min=0, max=MAX_SIZE),
        metadata={"description": "The newer tree size (default: today's)."},
    )


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
        _, data = docs.leaf_bytes(position)
        ccg = ccg_of_stream(decode_leaf(data).stream_id)
    except UnknownPosition as e:
        raise _not_found(e) from None
    except DamagedEvent as e:
        raise _damaged(e) from None
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


def _not_found(error: UnknownPosition) -> Problem:
    return Problem(
        404,
        "unknown-position",
        error.message,
        errors=[{"field": "position", "in": "path", "message": error.message}],
    )


def _damaged(error: DamagedEvent) -> Problem:
    """An event changed outside the ledger so that it cannot even be encoded."""
    return Problem(409, "damaged-event", error.message)


def _invalid(error: InvalidTreeSize) -> Problem:
    item: dict[str, Any] = {"field": error.field, "message": error.message}
    if error.allowed is not None:
        item["allowed"] = error.allowed
    return Problem(422, "invalid-tree-size", error.message, errors=[item])


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
        try:
            return documents().consistency(first, second)
        except InvalidTreeSize as e:
            raise _invalid(e) from None


@blp.route(
    "/events/<int:position>/inclusion", endpoint="inclusion", parameters=[POSITION_PARAMETER]
)
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
        try:
            return docs.inclusion(position, tree_size)
        except UnknownPosition as e:
            raise _not_found(e) from None
        except InvalidTreeSize as e:
            raise _invalid(e) from None


@blp.route("/events/<int:position>/leaf", endpoint="leaf", parameters=[POSITION_PARAMETER])
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
        try:
            return docs.leaf(position)
        except UnknownPosition as e:
            raise _not_found(e) from None
        except DamagedEvent as e:
            raise _damaged(e) from None
