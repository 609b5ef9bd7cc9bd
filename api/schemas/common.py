"""What every schema shares: exact numbers, request and response bases, event
references, the log pointer, the optional Idempotency-Key and the problem document.

Request schemas (``Body``) check shape only (types, required and unknown
fields); the ledger's own parsing then applies the scheme's rules, so the rules
have one home. Response schemas (``Document``) describe documents the ledger
produces; they let unknown keys through (``INCLUDE``) because the contract grows
by adding fields, and the views return the ledger's documents unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import fields


class ExactNumber(fields.Number):  # type: ignore[type-arg]
    """A JSON number, kept exactly as sent (int or Decimal, never float or string)."""

    num_type = Decimal
    default_error_messages = {"invalid": "Not a valid number."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


class Body(ma.Schema):
    """Shape of a command body: unknown fields are refused, never ignored."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def refuse_actor(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and "actor" in data:
            raise ma.ValidationError(
                "actor is set from your bearer token; remove it from the body", "actor"
            )
        return data


def required_text(description: str, **kwargs: Any) -> fields.String:
    return fields.String(required=True, metadata={"description": description, **kwargs})


def optional_text(description: str) -> fields.String:
    return fields.String(allow_none=True, metadata={"description": description})


def nullable_text(description: str) -> fields.String:
    return fields.String(required=True, allow_none=True, metadata={"description": description})


class IdempotencyHeaders(ma.Schema):
    """The optional Idempotency-Key of a write (its shape; the ledger checks its content)."""

    class Meta:
        unknown = ma.EXCLUDE  # every other header is none of our business

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=ma.validate.Length(min=1, max=200),
        metadata={
            "description": "Retrying with the same key and body returns the first response "
            "and stores nothing new; the same key with another body is refused (422)."
        },
    )


# -- responses ----------------------------------------------------------------


class Document(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE


class RecordDocument(Document):
    """A document about one CCG's record in one scheme: they come first."""

    ccg = fields.String(required=True)
    scheme = fields.String(required=True)


def nullable_number(**kwargs: Any) -> ExactNumber:
    return ExactNumber(allow_none=True, **kwargs)


class EventRef(Document):
    id = fields.String(required=True)
    position = fields.Integer(required=True)
    type = fields.String(required=True)


def event_refs() -> fields.List:
    return fields.List(fields.Nested(EventRef), required=True)


class LogPointer(Document):
    """The Merkle log (RFC 9162) the decision was computed from."""

    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True, metadata={"pattern": "^sha256:[0-9a-f]{64}$"})


class ProblemItem(Document):
    field = fields.String()
    message = fields.String(required=True)
    allowed = fields.Raw(metadata={"description": "What is allowed there."})
    in_ = fields.String(data_key="in")


class Problem(Document):
    """RFC 9457 problem document."""

    type = fields.String(required=True, metadata={"format": "uri"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    code = fields.String()
    errors = fields.List(fields.Nested(ProblemItem))
