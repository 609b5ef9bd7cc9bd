"""The bodies of the write endpoints (one per command of docs/contract.md) and their receipt.

Shape only: ``parse_command`` in ``ledger.domain.commands`` applies the rules.
"""

from __future__ import annotations

from marshmallow import fields

from api.schemas.common import Body, Document, ExactNumber, IdempotencyHeaders, required_text
from ledger.domain.commands import OUTTURNS
from ledger.domain.scheme import DIRECTIONS


class CommandBase(Body):
    """What every command has. ``type``, ``ccg`` and ``scheme`` may be left out
    (the path says them); if sent they must equal the path, so an import line
    can be posted unchanged."""

    type = fields.String(metadata={"description": "The command type; must match the path."})
    ccg = fields.String(metadata={"description": "CCG ODS code; must match the path."})
    scheme = fields.String(metadata={"description": "Scheme id; must match the path."})
    reason = fields.String(allow_none=True, metadata={"description": "Why (free text)."})


class PopulationRecorded(CommandBase):
    population = fields.Integer(
        strict=True, required=True, metadata={"description": "Registered population, > 0."}
    )
    source = required_text("Where the figure comes from, e.g. ONS.")


class LocalMeasure(Body):
    slot = required_text("local-1, local-2 or local-3")
    name = required_text("What the local measure is.")
    criterion = required_text("Criterion id: lower-case letters, digits and -.")
    direction = required_text("Whether lower or higher is better.", enum=list(DIRECTIONS))


class LocalMeasuresSelected(CommandBase):
    measures = fields.List(
        fields.Nested(LocalMeasure),
        required=True,
        metadata={"description": "Exactly one selection per local slot."},
    )


class ThresholdAgreed(CommandBase):
    measure = required_text("Measure id, e.g. pyll.")
    criterion = required_text("Criterion id, e.g. pyll-rate.")
    baseline = ExactNumber(required=True, metadata={"description": "Baseline, >= 0."})
    target = ExactNumber(required=True, metadata={"description": "Agreed target, >= 0."})


class MeasureSubmitted(CommandBase):
    measure = required_text("Measure id, e.g. pyll.")
    criterion = required_text("Criterion id, e.g. pyll-rate.")
    period = required_text("The year (e.g. 2013-14) or a quarter (2013-14-Q3).")
    value = ExactNumber(required=True, metadata={"description": "The achieved value, >= 0."})


class ConstitutionStandardSubmitted(CommandBase):
    standard = required_text("Standard id, e.g. ae-4-hours.")
    period = required_text("The year (e.g. 2013-14) or a quarter.")
    value = ExactNumber(required=True, metadata={"description": "Fraction achieved, 0..1."})


class QualityFailureFlagged(CommandBase):
    flag_id = required_text("Unique per CCG and scheme.")
    description = required_text("What the serious quality failure is.")


class QualityFailureRescinded(CommandBase):
    flag_id = required_text("An active flag of this CCG.")


class FinancialPositionDeclared(CommandBase):
    outturn = required_text("Year-end position.", enum=list(OUTTURNS))
    amount_pence = fields.Integer(
        strict=True, required=True, metadata={"description": "Overspend in pence, >= 0."}
    )


class HCAICaseReported(CommandBase):
    case_id = required_text("The case's id, once per scheme: letters, digits and . _ -.")
    organism = required_text("The organism; mrsa.", enum=["mrsa"])
    specimen_date = required_text("Date the positive blood culture was taken, YYYY-MM-DD.")
    trust = required_text("ODS code of the provider trust: R and two capital letters or digits.")


class HCAICaseAssigned(CommandBase):
    case_id = required_text("A reported case that was not withdrawn.")
    assigned_to = required_text("ccg:<code>, trust:<ODS code> or third-party.")
    assigned_by = required_text("Who made the post-infection review's assignment.")
    pir_reference = required_text("The post-infection review's reference.")


class HCAICaseWithdrawn(CommandBase):
    case_id = required_text("A reported case that was not withdrawn.")


class WriteHeaders(IdempotencyHeaders):
    """The optional headers of a ledger command."""

    if_match = fields.String(
        data_key="If-Match",
        metadata={
            "description": "An ETag from this CCG's decision or history: the write is "
            "refused (412) if the record has moved on since."
        },
    )


class Receipt(Document):
    type = fields.String(required=True)
    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    event_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "The CCG record's version."})
    position = fields.Integer(required=True, metadata={"description": "Global log position."})
    recorded_at = fields.String(required=True, metadata={"format": "date-time"})
