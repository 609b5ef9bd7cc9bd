"""Issued decisions (issue 6): issuing, reproducing and diffing them.

As everywhere, request schemas check shape only; the ledger
(``ledger/service/determinations.py``, ``ledger/domain/determinations.py``)
owns the rules. An issued decision's ``document`` is exactly the decision
document of docs/contract.md as it was when issued.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from api.schemas.appeals import Appeal
from api.schemas.common import (
    Body,
    Document,
    EventRef,
    LogPointer,
    RecordDocument,
    nullable_text,
    optional_text,
)
from api.schemas.records import Decision


class IssueDecision(Body):
    """Issue one CCG's decision as it stands now. ``{}`` is a valid body."""

    reason = optional_text("Why it is issued now (free text, stored with the issue).")
    appeal_id = optional_text(
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

    reason = optional_text("Why they are issued now (stored with every issue).")
    force = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Issue every CCG's decision, even one with no events or unchanged "
            "since its latest issue (by default those are skipped and listed under `skipped`)."
        },
    )


class ReproduceQuery(ma.Schema):
    engine_version = fields.String(
        metadata={"description": "Recompute with this engine version (default: the issue's own)."}
    )


#: How each end of a diff may be named: issue id, log position or recorded time.
POINT_KINDS = ("issue_id", "position", "as_of")


def _point_fields(end: str, word: str) -> dict[str, fields.Field]:
    return {
        f"{end}_issue_id": fields.String(metadata={"description": f"{word} an issued decision."}),
        f"{end}_position": fields.Integer(
            validate=ma.validate.Range(min=0),
            metadata={"description": f"{word} the decision at this log position."},
        ),
        f"{end}_as_of": fields.String(
            metadata={
                "description": f"{word} the decision as of this instant.",
                "format": "date-time",
            }
        ),
    }


class DiffQuery(
    ma.Schema.from_dict({**_point_fields("from", "From"), **_point_fields("to", "To")})
):  # type: ignore[misc]
    """Two points: ``from_*`` exactly one of three; ``to_*`` at most one (none: now)."""

    @ma.validates_schema
    def one_point_each(self, data: dict[str, Any], **kwargs: Any) -> None:
        for end, required in (("from", True), ("to", False)):
            given = [k for k in POINT_KINDS if f"{end}_{k}" in data]
            if len(given) > 1 or (required and not given):
                names = [f"{end}_{k}" for k in POINT_KINDS]
                said = "exactly one" if required else "at most one"
                raise ma.ValidationError(
                    f"give {said} of {', '.join(names)}", given[0] if given else names[0]
                )


# -- responses ----------------------------------------------------------------


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
    replaces = nullable_text("The issue this one replaces.")
    superseded_by = nullable_text("The issue that replaced this one.")
    appeal_id = nullable_text("The upheld appeal this issue revises for.")
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


class Chain(RecordDocument):
    """Everything issued to a CCG and every appeal, oldest first."""

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
