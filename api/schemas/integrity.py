"""The tamper-evident log's documents (issue 5): checkpoints, the key, proofs, leaves.

Documentation and query checking only: the views return what
``ledger.integrity.documents.LogDocuments`` produces, unchanged.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from api.schemas.common import Document, LogPointer

#: Largest tree size or position a query may name (PostgreSQL BIGINT).
MAX_SIZE = 2**63 - 1


BASE64 = "Standard base64 (RFC 4648 §4)."


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
