"""Erasing an event's words: the request and the erasure it records."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from api.schemas.common import Document
from ledger.integrity.sealed import ERASABLE_FIELDS


class EraseText(ma.Schema):
    event_id = fields.String(
        required=True, metadata={"description": "The event's id, as history shows it."}
    )
    field = fields.String(
        required=True,
        metadata={
            "description": "The field whose words are erased. Only words are erasable "
            f"({', '.join(ERASABLE_FIELDS)}); a fact a decision reads never is.",
            "example": "reason",
        },
    )
    why = fields.String(
        required=True,
        metadata={"description": "Why (1 to 1000 characters); kept with the erasure."},
    )


class Erasure(Document):
    event_id = fields.String(required=True)
    field = fields.String(required=True)
    erased_by = fields.String(required=True)
    erased_at = fields.String(required=True, metadata={"format": "date-time"})
    why = fields.String(required=True)
    position = fields.Integer(
        required=True, metadata={"description": "The log position of the erasure event."}
    )
