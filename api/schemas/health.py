"""Liveness and readiness documents (/health, /ready)."""

from __future__ import annotations

from marshmallow import fields

from api.schemas.common import Document


class SignedHead(Document):
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True, metadata={"description": "Hex."})


class SignerHealth(Document):
    """Would the checkpoint signer sign today's head? (docs/integrity.md, signed_head.py)"""

    status = fields.String(
        required=True,
        metadata={
            "enum": ["ok", "never-signed", "refusing", "unavailable"],
            "description": "`refusing`: the log does not extend the last signed checkpoint "
            "(rewritten or cut short), so no checkpoint or bundle will be signed.",
        },
    )
    detail = fields.String(required=True)
    last_signed = fields.Nested(SignedHead, metadata={"description": "The last signed head."})


class Health(Document):
    status = fields.String(required=True)
    projections = fields.Dict(
        metadata={"description": "Read-model positions and lag (status ok/lagging/not-built)."}
    )
    signer = fields.Nested(SignerHealth, required=True)


class Ready(Document):
    status = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "Head of the log."})
