"""Appeals against issued decisions (issue 6): lodging, evidence, determination, counts.

Patterns and enumerations appear here as documentation for clients; the
ledger is what refuses a value that breaks them (the appeal window, who may
appeal what, which transitions are allowed, what an attachment digest looks
like), with its own message.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from api.schemas.common import (
    Body,
    Document,
    RecordDocument,
    nullable_text,
    optional_text,
    required_text,
)
from api.schemas.records import erased_fields
from ledger.domain.commands import COMMAND_TYPES
from ledger.domain.determinations import OUTCOMES

#: The states an appeal moves through (ledger/domain/determinations.py).
APPEAL_STATUSES = ("lodged", *OUTCOMES)


SHA256_PATTERN = "^[0-9a-f]{64}$"


MEDIA_TYPE_PATTERN = "^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+$"


class LodgeAppeal(Body):
    issue_id = required_text(
        "The issued decision appealed against (this CCG's, within its window)."
    )
    grounds = required_text("Why the CCG says the decision is wrong.")
    disputes = fields.List(
        fields.String(),
        metadata={"description": "The components, gates, standards or event ids disputed."},
    )


class Attachment(Body):
    """A file recorded by digest, size and media type; the bytes are kept elsewhere."""

    name = required_text("File name, as the CCG knows it (at most 255 characters).")
    sha256 = required_text(
        "SHA-256 of the file's bytes: 64 lower-case hex digits.", pattern=SHA256_PATTERN
    )
    size = fields.Integer(
        strict=True, required=True, metadata={"description": "Bytes, >= 0.", "minimum": 0}
    )
    media_type = required_text("Media type, e.g. application/pdf.", pattern=MEDIA_TYPE_PATTERN)


class AddEvidence(Body):
    text = required_text("The evidence, or what the attachments show.")
    attachments = fields.List(
        fields.Nested(Attachment), metadata={"description": "Files, by digest (may be empty)."}
    )


class RemedyCommand(Body):
    """A docs/contract.md command, as in an import line; ``ccg`` and ``scheme`` default
    to the path's. Its other fields are the command type's (checked by the ledger)."""

    class Meta:
        unknown = ma.INCLUDE

    type = required_text("The command type.", enum=list(COMMAND_TYPES))
    ccg = fields.String(metadata={"description": "Must be the appealing CCG (the path's)."})
    scheme = fields.String(metadata={"description": "Must be the path's scheme."})
    reason = optional_text("Stored on the event (default: 'appeal <id> upheld').")


class DetermineAppeal(Body):
    outcome = required_text("The Board's outcome.", enum=list(OUTCOMES))
    determination = required_text("The Board's reasons.")
    remedy = fields.List(
        fields.Nested(RemedyCommand),
        metadata={
            "description": "Upheld only: the ledger events that put it right (a flag "
            "rescinded, a corrected value accepted, a threshold revision recognised), "
            "stored in one transaction with the determination."
        },
    )


# -- responses ----------------------------------------------------------------


class AttachmentRecord(Document):
    name = fields.String(required=True)
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)
    media_type = fields.String(required=True)


class Evidence(Document):
    text = nullable_text("What the evidence shows; null once erased (see erased).")
    event_id = fields.String(
        required=True, metadata={"description": "Its event: what POST /erasures names."}
    )
    erased = erased_fields()
    attachments = fields.List(fields.Nested(AttachmentRecord), required=True)
    actor = fields.String(required=True)
    added_at = fields.String(required=True, metadata={"format": "date-time"})


class RemedyEvent(Document):
    stream = fields.String(required=True, metadata={"description": "The CCG record's id."})
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    position = fields.Integer(required=True)


class Appeal(RecordDocument):
    appeal_id = fields.String(
        required=True, metadata={"description": "e.g. 06F.qp-2013-14.appeal-1"}
    )
    issue_id = fields.String(required=True)
    grounds = nullable_text("Why the CCG says the decision is wrong; null once erased.")
    disputes = fields.List(fields.String(), required=True)
    status = fields.String(required=True, metadata={"enum": list(APPEAL_STATUSES)})
    actor = fields.String(required=True, metadata={"description": "Who lodged it."})
    lodged_at = fields.String(required=True, metadata={"format": "date-time"})
    evidence = fields.List(fields.Nested(Evidence), required=True)
    determination = nullable_text(
        "The Board's reasons, once determined; null again once erased (see erased)."
    )
    determined_at = fields.String(metadata={"format": "date-time"})
    lodged_event_id = fields.String(
        required=True,
        metadata={"description": "The lodging's event (its grounds): what POST /erasures names."},
    )
    determined_event_id = fields.String(
        metadata={"description": "The determination's event, once determined."}
    )
    erased = erased_fields()
    remedy = fields.List(
        fields.Nested(RemedyEvent),
        required=True,
        metadata={"description": "The events stored on the CCG's record as the remedy."},
    )
    revised_by = nullable_text("The revised issue that followed an upheld appeal.")


class AppealList(RecordDocument):
    appeals = fields.List(fields.Nested(Appeal), required=True)


class StatusCounts(Document):
    lodged = fields.Integer(required=True)
    dismissed = fields.Integer(required=True)
    upheld = fields.Integer(required=True)


class AppealCounts(Document):
    """How many appeals there are, by status: never who appealed or why."""

    scheme = fields.String(required=True)
    total = fields.Integer(required=True)
    by_status = fields.Nested(StatusCounts, required=True)
