"""Schemas for issued decisions and appeals (issue 6), and so their OpenAPI document.

As in ``api/schemas.py``, request schemas check shape only (types, required
and unknown fields); the ledger (``ledger/service/determinations.py``,
``ledger/domain/determinations.py``) owns the rules: the appeal window, who may
appeal what, which transitions are allowed, what an attachment digest looks
like. Patterns and enumerations appear here as documentation for clients;
the ledger is what refuses a value that breaks them, with its own message.

Response schemas describe the ledger's documents, which the views return
unchanged: an issued decision's ``document`` is exactly the decision document
of docs/contract.md as it was when issued.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from api.schemas import Body, Decision, Document, EventRef, LogPointer
from ledger.domain.commands import COMMAND_TYPES
from ledger.domain.determinations import OUTCOMES

#: The states an appeal moves through (ledger/domain/determinations.py).
APPEAL_STATUSES = ("lodged", *OUTCOMES)
SHA256_PATTERN = "^[0-9a-f]{64}$"
MEDIA_TYPE_PATTERN = "^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+$"


def _text(description: str, **kwargs: Any) -> fields.String:
    return fields.String(required=True, metadata={"description": description, **kwargs})


def _optional_text(description: str) -> fields.String:
    return fields.String(allow_none=True, metadata={"description": description})


# -- requests -----------------------------------------------------------------


class IssueDecision(Body):
    """Issue one CCG's decision as it stands now. ``{}`` is a valid body."""

    reason = _optional_text("Why it is issued now (free text, stored with the issue).")
    appeal_id = _optional_text(
        "For the revised decision that follows an upheld appeal: that appeal's id "
        "(each upheld appeal leads to exactly one revision)."
    )
    force = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Issue even when the CCG's record has no events (404 "
            "nothing-recorded otherwise) or the decision is unchanged since its latest issue, "
            "the same inputs digest (422 decision-unchanged otherwise). Default false."
        },
    )


class IssueAllDecisions(Body):
    """Issue the decision of every CCG in the scheme. ``{}`` is a valid body."""

    reason = _optional_text("Why they are issued now (stored with every issue).")
    force = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Issue every CCG's decision, even one with no events or unchanged "
            "since its latest issue (by default those are skipped and listed under `skipped`)."
        },
    )


class LodgeAppeal(Body):
    issue_id = _text("The issued decision appealed against (this CCG's, within its window).")
    grounds = _text("Why the CCG says the decision is wrong.")
    disputes = fields.List(
        fields.String(),
        metadata={"description": "The components, gates, standards or event ids disputed."},
    )


class Attachment(Body):
    """A file recorded by digest, size and media type; the bytes are kept elsewhere."""

    name = _text("File name, as the CCG knows it (at most 255 characters).")
    sha256 = _text("SHA-256 of the file's bytes: 64 lower-case hex digits.", pattern=SHA256_PATTERN)
    size = fields.Integer(
        strict=True, required=True, metadata={"description": "Bytes, >= 0.", "minimum": 0}
    )
    media_type = _text("Media type, e.g. application/pdf.", pattern=MEDIA_TYPE_PATTERN)


class AddEvidence(Body):
    text = _text("The evidence, or what the attachments show.")
    attachments = fields.List(
        fields.Nested(Attachment), metadata={"description": "Files, by digest (may be empty)."}
    )


class RemedyCommand(Body):
    """A docs/contract.md command, as in an import line; ``ccg`` and ``scheme`` default
    to the path's. Its other fields are the command type's (checked by the ledger)."""

    class Meta:
        unknown = ma.INCLUDE

    type = _text("The command type.", enum=list(COMMAND_TYPES))
    ccg = fields.String(metadata={"description": "Must be the appealing CCG (the path's)."})
    scheme = fields.String(metadata={"description": "Must be the path's scheme."})
    reason = _optional_text("Stored on the event (default: 'appeal <id> upheld').")


class DetermineAppeal(Body):
    outcome = _text("The Board's outcome.", enum=list(OUTCOMES))
    determination = _text("The Board's reasons.")
    remedy = fields.List(
        fields.Nested(RemedyCommand),
        metadata={
            "description": "Upheld only: the ledger events that put it right (a flag "
            "rescinded, a corrected value accepted, a threshold revision recognised), "
            "stored in one transaction with the determination."
        },
    )


class ReproduceQuery(ma.Schema):
    engine_version = fields.String(
        metadata={"description": "Recompute with this engine version (default: the issue's own)."}
    )


class DiffQuery(ma.Schema):
    """Two points: ``from_*`` exactly one of three; ``to_*`` at most one (none: now)."""

    from_issue_id = fields.String(metadata={"description": "From an issued decision."})
    from_position = fields.Integer(
        validate=ma.validate.Range(min=0),
        metadata={"description": "From the decision at this log position."},
    )
    from_as_of = fields.String(
        metadata={"description": "From the decision as of this instant.", "format": "date-time"}
    )
    to_issue_id = fields.String(metadata={"description": "To an issued decision."})
    to_position = fields.Integer(
        validate=ma.validate.Range(min=0),
        metadata={"description": "To the decision at this log position."},
    )
    to_as_of = fields.String(
        metadata={"description": "To the decision as of this instant.", "format": "date-time"}
    )

    @ma.validates_schema
    def one_point_each(self, data: dict[str, Any], **kwargs: Any) -> None:
        for end, required in (("from", True), ("to", False)):
            given = [k for k in ("issue_id", "position", "as_of") if f"{end}_{k}" in data]
            if len(given) > 1 or (required and not given):
                names = [f"{end}_{k}" for k in ("issue_id", "position", "as_of")]
                said = "exactly one" if required else "at most one"
                raise ma.ValidationError(
                    f"give {said} of {', '.join(names)}", given[0] if given else names[0]
                )


# -- responses ----------------------------------------------------------------


def _nullable(description: str) -> fields.String:
    return fields.String(required=True, allow_none=True, metadata={"description": description})


class IssuedSummary(Document):
    issue_id = fields.String(required=True, metadata={"description": "e.g. 06F.qp-2013-14.1"})
    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    issued_at = fields.String(required=True, metadata={"format": "date-time"})
    issued_by = fields.String(required=True, metadata={"description": "The actor who issued."})
    position = fields.Integer(required=True, metadata={"description": "Computed at this position."})
    status = fields.String(required=True, metadata={"enum": ["final", "provisional"]})
    payable_pence = fields.Integer(required=True)
    engine_version = fields.String(required=True)
    inputs_digest = fields.String(required=True)
    replaces = _nullable("The issue this one replaces.")
    superseded_by = _nullable("The issue that replaced this one.")
    appeal_id = _nullable("The upheld appeal this issue revises for.")
    checkpoint = fields.Nested(
        LogPointer,
        allow_none=True,
        metadata={"description": "The Merkle tree head (size, root) it was computed from."},
    )


class IssuedDecision(IssuedSummary):
    """One issued decision in full: the summary, and the document exactly as issued."""

    document = fields.Nested(Decision, required=True)


class IssuedBrief(Document):
    issue_id = fields.String(required=True)
    ccg = fields.String(required=True)
    position = fields.Integer(required=True)
    payable_pence = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["final", "provisional"]})
    replaces = fields.String(required=True, allow_none=True)


class Skipped(Document):
    ccg = fields.String(required=True)
    code = fields.String(
        required=True,
        metadata={"enum": ["nothing-recorded", "decision-unchanged"], "description": "Why."},
    )
    reason = fields.String(required=True, metadata={"description": "Why, in words."})


class IssuedAll(Document):
    scheme = fields.String(required=True)
    count = fields.Integer(required=True, metadata={"description": "How many were issued."})
    issued = fields.List(fields.Nested(IssuedBrief), required=True)
    skipped = fields.List(
        fields.Nested(Skipped),
        required=True,
        metadata={
            "description": "CCGs not issued (no events, or unchanged since their latest "
            "issue), in ODS code order; empty with `force`."
        },
    )


class AttachmentRecord(Document):
    name = fields.String(required=True)
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)
    media_type = fields.String(required=True)


class Evidence(Document):
    text = fields.String(required=True)
    attachments = fields.List(fields.Nested(AttachmentRecord), required=True)
    actor = fields.String(required=True)
    added_at = fields.String(required=True, metadata={"format": "date-time"})


class RemedyEvent(Document):
    stream = fields.String(required=True, metadata={"description": "The CCG record's id."})
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    position = fields.Integer(required=True)


class Appeal(Document):
    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    appeal_id = fields.String(
        required=True, metadata={"description": "e.g. 06F.qp-2013-14.appeal-1"}
    )
    issue_id = fields.String(required=True)
    grounds = fields.String(required=True)
    disputes = fields.List(fields.String(), required=True)
    status = fields.String(required=True, metadata={"enum": list(APPEAL_STATUSES)})
    actor = fields.String(required=True, metadata={"description": "Who lodged it."})
    lodged_at = fields.String(required=True, metadata={"format": "date-time"})
    evidence = fields.List(fields.Nested(Evidence), required=True)
    determination = _nullable("The Board's reasons, once determined.")
    determined_at = fields.String(metadata={"format": "date-time"})
    remedy = fields.List(
        fields.Nested(RemedyEvent),
        required=True,
        metadata={"description": "The events stored on the CCG's record as the remedy."},
    )
    revised_by = _nullable("The revised issue that followed an upheld appeal.")


class AppealList(Document):
    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    appeals = fields.List(fields.Nested(Appeal), required=True)


class Chain(Document):
    """Everything issued to a CCG and every appeal, oldest first."""

    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    issued = fields.List(fields.Nested(IssuedSummary), required=True)
    appeals = fields.List(fields.Nested(Appeal), required=True)


class Difference(Document):
    path = fields.String(required=True, metadata={"description": "e.g. components[1].met"})
    old = fields.Raw(required=True, metadata={"description": "As issued."})
    new = fields.Raw(required=True, metadata={"description": "As recomputed."})


class Reproduction(Document):
    issue_id = fields.String(required=True)
    engine_version = fields.String(required=True)
    result = fields.String(required=True, metadata={"enum": ["identical", "different"]})
    differences = fields.List(fields.Nested(Difference), required=True)


class DiffPoint(Document):
    position = fields.Integer(required=True)
    as_of = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    payable_pence = fields.Integer(required=True)
    inputs_digest = fields.String(required=True)


class Change(Document):
    line = fields.String(
        required=True, metadata={"enum": ["total", "component", "criterion", "gate", "deduction"]}
    )
    key = fields.String(required=True, metadata={"description": "e.g. pyll/pyll-rate"})
    field = fields.String(required=True)
    old = fields.Raw(required=True)
    new = fields.Raw(required=True)
    events = fields.List(
        fields.Nested(EventRef),
        required=True,
        metadata={"description": "The events between the two points that decided the new value."},
    )


class DecisionDiff(Document):
    from_ = fields.Nested(DiffPoint, data_key="from", required=True)
    to = fields.Nested(DiffPoint, required=True)
    payable_change_pence = fields.Integer(required=True)
    changes = fields.List(fields.Nested(Change), required=True)


class StatusCounts(Document):
    lodged = fields.Integer(required=True)
    dismissed = fields.Integer(required=True)
    upheld = fields.Integer(required=True)


class AppealCounts(Document):
    """How many appeals there are, by status: never who appealed or why."""

    scheme = fields.String(required=True)
    total = fields.Integer(required=True)
    by_status = fields.Nested(StatusCounts, required=True)
