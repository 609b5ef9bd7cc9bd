"""Marshmallow schemas: the shapes of every body and response, and so the OpenAPI document.

Request schemas check shape only (types, required and unknown fields); the
ledger's own ``parse_command`` then applies the scheme's rules, so the rules
have one home. Response schemas describe documents the ledger produces; they
let unknown keys through (``INCLUDE``) because the contract grows by adding
fields, and the views return the ledger's documents unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import fields

from ledger.domain.commands import OUTTURNS
from ledger.domain.scheme import DIRECTIONS


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


def _text(description: str, **kwargs: Any) -> fields.String:
    return fields.String(required=True, metadata={"description": description, **kwargs})


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
    source = _text("Where the figure comes from, e.g. ONS.")


class LocalMeasure(Body):
    slot = _text("local-1, local-2 or local-3")
    name = _text("What the local measure is.")
    criterion = _text("Criterion id: lower-case letters, digits and -.")
    direction = _text("Whether lower or higher is better.", enum=list(DIRECTIONS))


class LocalMeasuresSelected(CommandBase):
    measures = fields.List(
        fields.Nested(LocalMeasure),
        required=True,
        metadata={"description": "Exactly one selection per local slot."},
    )


class ThresholdAgreed(CommandBase):
    measure = _text("Measure id, e.g. pyll.")
    criterion = _text("Criterion id, e.g. pyll-rate.")
    baseline = ExactNumber(required=True, metadata={"description": "Baseline, >= 0."})
    target = ExactNumber(required=True, metadata={"description": "Agreed target, >= 0."})


class MeasureSubmitted(CommandBase):
    measure = _text("Measure id, e.g. pyll.")
    criterion = _text("Criterion id, e.g. pyll-rate.")
    period = _text("The year (e.g. 2013-14) or a quarter (2013-14-Q3).")
    value = ExactNumber(required=True, metadata={"description": "The achieved value, >= 0."})


class ConstitutionStandardSubmitted(CommandBase):
    standard = _text("Standard id, e.g. ae-4-hours.")
    period = _text("The year (e.g. 2013-14) or a quarter.")
    value = ExactNumber(required=True, metadata={"description": "Fraction achieved, 0..1."})


class QualityFailureFlagged(CommandBase):
    flag_id = _text("Unique per CCG and scheme.")
    description = _text("What the serious quality failure is.")


class QualityFailureRescinded(CommandBase):
    flag_id = _text("An active flag of this CCG.")


class FinancialPositionDeclared(CommandBase):
    outturn = _text("Year-end position.", enum=list(OUTTURNS))
    amount_pence = fields.Integer(
        strict=True, required=True, metadata={"description": "Overspend in pence, >= 0."}
    )


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


class HCAICaseReported(CommandBase):
    case_id = _text("The case's id, once per scheme: letters, digits and . _ -.")
    organism = _text("The organism; mrsa.", enum=["mrsa"])
    specimen_date = _text("Date the positive blood culture was taken, YYYY-MM-DD.")
    trust = _text("ODS code of the provider trust: R and two capital letters or digits.")


class HCAICaseAssigned(CommandBase):
    case_id = _text("A reported case that was not withdrawn.")
    assigned_to = _text("ccg:<code>, trust:<ODS code> or third-party.")
    assigned_by = _text("Who made the post-infection review's assignment.")
    pir_reference = _text("The post-infection review's reference.")


class HCAICaseWithdrawn(CommandBase):
    case_id = _text("A reported case that was not withdrawn.")


class WriteHeaders(IdempotencyHeaders):
    """The optional headers of a ledger command."""

    if_match = fields.String(
        data_key="If-Match",
        metadata={
            "description": "An ETag from this CCG's decision or history: the write is "
            "refused (412) if the record has moved on since."
        },
    )


# -- responses ----------------------------------------------------------------


class Document(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE


def _number(**kwargs: Any) -> ExactNumber:
    return ExactNumber(allow_none=True, **kwargs)


class Receipt(Document):
    type = fields.String(required=True)
    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    event_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "The CCG record's version."})
    position = fields.Integer(required=True, metadata={"description": "Global log position."})
    recorded_at = fields.String(required=True, metadata={"format": "date-time"})


class EventRef(Document):
    id = fields.String(required=True)
    position = fields.Integer(required=True)
    type = fields.String(required=True)


def _events() -> fields.List:
    return fields.List(fields.Nested(EventRef), required=True)


class CaseLine(Document):
    """An HCAI case ever assigned to the CCG in the year (derived criteria only, issue 14)."""

    case_id = fields.String(required=True)
    organism = fields.String()
    specimen_date = fields.String(metadata={"format": "date"})
    trust = fields.String()
    responsible_ccg = fields.String()
    assigned_by = fields.String()
    pir_reference = fields.String()
    counted = fields.Boolean(required=True)
    now_assigned_to = fields.String(allow_none=True)
    now_assigned_by = fields.String(allow_none=True)
    now_pir_reference = fields.String(allow_none=True)
    case_event = fields.String(metadata={"description": "The case's own event behind it."})
    events = _events()


class CaseEvent(Document):
    position = fields.Integer(required=True)
    recorded_at = fields.String(required=True, metadata={"format": "date-time"})
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    actor = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields")


class HCAICaseStory(Document):
    """An HCAI case as it stands, and every event of its own stream (issue 14)."""

    case_id = fields.String(required=True)
    scheme = fields.String(required=True)
    reported_against = fields.String(required=True)
    organism = fields.String(required=True)
    specimen_date = fields.String(required=True, metadata={"format": "date"})
    trust = fields.String(required=True)
    assigned_to = fields.String(required=True, allow_none=True)
    assigned_by = fields.String(required=True, allow_none=True)
    pir_reference = fields.String(required=True, allow_none=True)
    withdrawn = fields.Boolean(required=True)
    events = fields.List(fields.Nested(CaseEvent), required=True)


class CriterionLine(Document):
    criterion = fields.String(required=True)
    direction = fields.String(required=True)
    period = fields.String()
    value = _number(required=True)
    value_source = fields.String(
        metadata={"description": "Only when derived: cases (counted from case events)."}
    )
    target = _number(required=True)
    target_source = fields.String()
    baseline = _number()
    met = fields.Boolean(required=True, allow_none=True)
    cases = fields.List(fields.Nested(CaseLine))
    events = _events()


class Component(Document):
    measure = fields.String(required=True)
    name = fields.String()
    share = fields.String(required=True, metadata={"description": "Exact decimal share."})
    met = fields.Boolean(required=True, allow_none=True)
    earned_pence = fields.Integer(required=True)
    criteria = fields.List(fields.Nested(CriterionLine), required=True)
    local_name = fields.String(allow_none=True)
    events = fields.List(fields.Nested(EventRef))


class Gate(Document):
    gate = fields.String(required=True)
    open = fields.Boolean(required=True, allow_none=True)
    events = _events()
    active_flags = fields.List(fields.String())
    outturn = fields.String(allow_none=True)
    amount_pence = fields.Integer(allow_none=True)


class Deduction(Document):
    standard = fields.String(required=True)
    period = fields.String()
    value = _number()
    threshold = _number()
    met = fields.Boolean(required=True, allow_none=True)
    reduction = fields.String(required=True)
    events = _events()


class LogPointer(Document):
    """The Merkle log (RFC 9162) the decision was computed from."""

    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True, metadata={"pattern": "^sha256:[0-9a-f]{64}$"})


class Decision(Document):
    """The decision document of docs/contract.md, as `qp-ledger decision --json` prints it."""

    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    as_of = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    position = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["final", "provisional"]})
    population = fields.Integer(required=True, allow_none=True)
    population_events = fields.List(fields.Nested(EventRef))
    maximum_pence = fields.Integer(required=True, allow_none=True)
    gates = fields.List(fields.Nested(Gate), required=True)
    components = fields.List(fields.Nested(Component), required=True)
    deductions = fields.List(fields.Nested(Deduction), required=True)
    met_share = fields.String()
    deduction_factor = fields.String()
    earned_pence = fields.Integer(required=True)
    payable_pence = fields.Integer(required=True)
    engine_version = fields.String(required=True)
    inputs_digest = fields.String(required=True)
    log = fields.Nested(LogPointer, required=True)


class DecisionQuery(ma.Schema):
    as_of = fields.String(
        metadata={
            "description": "Use only events recorded at or before this ISO-8601 instant "
            "(UTC if no offset).",
            "format": "date-time",
        }
    )
    position = fields.Integer(
        metadata={"description": "Use only events at or before this log position (>= 0)."}
    )


class HistoryQuery(ma.Schema):
    offset = fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0),
        metadata={"description": "Events of the CCG's record to skip."},
    )
    limit = fields.Integer(
        load_default=100,
        validate=ma.validate.Range(min=1, max=500),
        metadata={"description": "Page size, 1..500."},
    )


class HistoryEvent(Document):
    position = fields.Integer(required=True)
    recorded_at = fields.String(required=True, metadata={"format": "date-time"})
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    fields_ = fields.Dict(
        data_key="fields",
        required=True,
        metadata={"description": "The event's own fields, numbers exact."},
    )


class HistoryPage(Document):
    ccg = fields.String(required=True)
    scheme = fields.String(required=True)
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "Events in the record."})
    next_offset = fields.Integer(required=True, allow_none=True)
    events = fields.List(fields.Nested(HistoryEvent), required=True)


class CCGQuery(ma.Schema):
    area_team = fields.String(metadata={"description": "Area team code, e.g. E39000015."})
    region = fields.String(metadata={"description": "Region code, e.g. E40000001."})


class CCG(Document):
    ods_code = fields.String(required=True)
    ons_code = fields.String(required=True)
    name = fields.String(required=True)
    area_team_code = fields.String(required=True)
    area_team_name = fields.String(required=True)
    region_code = fields.String(required=True)
    region_name = fields.String(required=True)
    registered_list = fields.Integer(required=True)


class CCGList(Document):
    count = fields.Integer(required=True)
    ccgs = fields.List(fields.Nested(CCG), required=True)


class Criterion(Document):
    id = fields.String(required=True)
    direction = fields.String(required=True)
    fixed_target = fields.String(required=True, allow_none=True)
    value = fields.String(
        metadata={
            "enum": ["submitted", "cases"],
            "description": "submitted (measure_submitted), or counted from the HCAI case "
            "events assigned to the CCG (issue 14)",
        }
    )


class Measure(Document):
    id = fields.String(required=True)
    name = fields.String(required=True)
    share = fields.String(required=True)
    local = fields.Boolean(required=True)
    criteria = fields.List(fields.Nested(Criterion), required=True)


class Standard(Document):
    id = fields.String(required=True)
    name = fields.String(required=True)
    direction = fields.String(required=True)
    threshold = fields.String(required=True)


class Scheme(Document):
    id = fields.String(required=True)
    title = fields.String(required=True)
    year = fields.String(required=True)
    assessment_period = fields.String(required=True)
    periods = fields.List(fields.String(), required=True)
    pence_per_head = fields.Integer(required=True)
    reduction_per_standard = fields.String(required=True)
    measures = fields.List(fields.Nested(Measure), required=True)
    standards = fields.List(fields.Nested(Standard), required=True)
    digest = fields.String(required=True)


class SchemeList(Document):
    schemes = fields.List(fields.Nested(Scheme), required=True)


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
