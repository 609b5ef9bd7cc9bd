"""A CCG's record: the decision document of docs/contract.md, its history, an HCAI case."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from api.schemas.common import (
    Document,
    EventRef,
    LogPointer,
    RecordDocument,
    event_refs,
    nullable_number,
)
from api.schemas.parameters import header

#: A decision's caching, documented on its 200 and 304 (api/etags.py).
CACHE_CONTROL = {
    "Cache-Control": header(
        "`private, max-age=31536000, immutable` for a decision at a log position "
        "(`position`: it never changes); `private, no-cache` otherwise (revalidate with "
        "If-None-Match). `private` because whether a token may read it depends on the token."
    )
}


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
    events = event_refs()


class Erased(Document):
    """How a field's words were erased (POST /erasures): by whom, when, why."""

    by = fields.String(required=True)
    at = fields.String(required=True, metadata={"format": "date-time"})
    why = fields.String(required=True)


def erased_fields() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        values=fields.Nested(Erased),
        metadata={
            "description": "Only on an event some of whose words were erased: field -> "
            "how (its value above is then null). The event's proofs are unchanged."
        },
    )


class CaseEvent(Document):
    position = fields.Integer(required=True)
    recorded_at = fields.String(required=True, metadata={"format": "date-time"})
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    actor = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields")
    erased = erased_fields()


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
    value = nullable_number(required=True)
    value_source = fields.String(
        metadata={"description": "Only when derived: cases (counted from case events)."}
    )
    target = nullable_number(required=True)
    target_source = fields.String()
    baseline = nullable_number()
    met = fields.Boolean(required=True, allow_none=True)
    cases = fields.List(fields.Nested(CaseLine))
    events = event_refs()


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
    events = event_refs()
    active_flags = fields.List(fields.String())
    outturn = fields.String(allow_none=True)
    amount_pence = fields.Integer(allow_none=True)


class Deduction(Document):
    standard = fields.String(required=True)
    period = fields.String()
    value = nullable_number()
    threshold = nullable_number()
    met = fields.Boolean(required=True, allow_none=True)
    reduction = fields.String(required=True)
    events = event_refs()


class Decision(RecordDocument):
    """The decision document of docs/contract.md, as `qp-ledger decision --json` prints it."""

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
    erased = erased_fields()


class HistoryPage(RecordDocument):
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "Events in the record."})
    next_offset = fields.Integer(required=True, allow_none=True)
    events = fields.List(fields.Nested(HistoryEvent), required=True)
