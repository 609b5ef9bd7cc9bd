"""The evidence bundle's schema for the OpenAPI document (format in docs/bundle.md).

Documentation only: the view returns the ledger's document unchanged (its
numbers exact), and ``ledger.integrity.bundle`` is what checks a bundle.
"""

from __future__ import annotations

from marshmallow import fields

from api.schemas.common import Document
from api.schemas.records import Decision

BASE64 = "Standard base64 (RFC 4648 §4), canonical."


class ProvenLeaf(Document):
    """An event as the log commits to it, with its inclusion proof against the checkpoint."""

    leaf_index = fields.Integer(required=True, metadata={"minimum": 0})
    leaf = fields.String(
        required=True,
        metadata={"description": f"The canonical leaf bytes (qp-ledger/leaf/v1). {BASE64}"},
    )
    inclusion_path = fields.List(
        fields.String(),
        required=True,
        metadata={"description": f"RFC 9162 inclusion path in the checkpoint's tree. {BASE64}"},
    )


class BundleRecord(Document):
    stream_id = fields.String(required=True, metadata={"description": "The record's stream."})
    events = fields.List(
        fields.Nested(ProvenLeaf),
        required=True,
        metadata={"description": "Versions 1..n: every event at or before the position."},
    )
    next_event = fields.Nested(
        ProvenLeaf,
        required=True,
        allow_none=True,
        metadata={"description": "Version n+1, after the position (null: none yet)."},
    )


class DecisionLogProof(Document):
    """RFC 9162 consistency proof from the decision's tree (its `log`) to the checkpoint's."""

    tree_size_1 = fields.Integer(required=True)
    tree_size_2 = fields.Integer(required=True)
    consistency_path = fields.List(fields.String(), required=True)


class BundleCheckpoint(Document):
    note = fields.String(
        required=True, metadata={"description": "C2SP tlog-checkpoint signed note (Ed25519)."}
    )
    verifier_key = fields.String(
        required=True,
        metadata={"description": "The key that signed it; verify with your own copy of it."},
    )


class EvidenceBundle(Document):
    """An issued decision with everything needed to check it offline (docs/bundle.md)."""

    format = fields.String(required=True, metadata={"enum": ["qp-ledger/bundle/v1"]})
    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    issue_id = fields.String(required=True)
    engine_version = fields.String(required=True)
    decision = fields.Nested(Decision, required=True)
    scheme_data = fields.Dict(
        required=True, metadata={"description": "The scheme definition file as shipped."}
    )
    record = fields.Nested(BundleRecord, required=True)
    issue_event = fields.Nested(
        ProvenLeaf, required=True, metadata={"description": "The DecisionIssued event."}
    )
    decision_log = fields.Nested(DecisionLogProof, required=True)
    checkpoint = fields.Nested(BundleCheckpoint, required=True)
