"""Shapes of the reporting API (``api/views/reports.py``): query parameters and rows.

Rows are flat, so the same schema gives the JSON objects and the CSV columns
(in declaration order). Money is integer pence; shares are decimal strings.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ledger.domain.ccgs import ccgs
from ledger.domain.scheme import schemes
from ledger.projections.read import (
    DECISION_SORTS,
    GROUP_LEVELS,
    ITEM_KINDS,
    MAX_PAGE_SIZE,
)
from ledger.projections.totals import NATION_CODE

STATUSES = ("final", "provisional")
SORTS = [*DECISION_SORTS, *(f"-{s}" for s in DECISION_SORTS)]
#: Filters are checked against the reference data, so a typo is a 422 naming
#: what is allowed, not an empty report.
SCHEME_IDS = sorted(schemes())
AREA_TEAMS = sorted({c.area_team_code for c in ccgs().values()})
REGIONS = sorted({c.region_code for c in ccgs().values()})
GROUP_CODES = [NATION_CODE, *REGIONS, *AREA_TEAMS]


def _text(description: str, **kwargs: object) -> fields.String:
    return fields.String(metadata={"description": description}, **kwargs)  # type: ignore[arg-type]


class Query(ma.Schema):
    """Query parameters every report takes. Unknown parameters are refused (422)."""

    class Meta:
        unknown = ma.RAISE

    min_position = fields.Integer(
        strict=False,
        validate=validate.Range(min=0, max=2**62),
        metadata={
            "description": "Read-your-writes: wait briefly until the read model has applied "
            "this log position (e.g. the `position` of your write's receipt); 503 with "
            "Retry-After if it has not."
        },
    )


class PagedQuery(Query):
    page = fields.Integer(
        load_default=1,
        # Far beyond any real page (211 CCGs x a few schemes), and an offset every
        # database can take.
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "From 1."},
    )
    page_size = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Rows per page, 1 to {MAX_PAGE_SIZE}."},
    )

    @ma.post_load
    def leave_the_page_to_paginate(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Checked and documented here; ``@blp.paginate`` hands them to the view (as
        ``pagination_parameters``), so they are not passed twice."""
        return {k: v for k, v in data.items() if k not in ("page", "page_size")}


class DecisionListQuery(PagedQuery):
    scheme = _text("Only this scheme, e.g. qp-2013-14.", validate=validate.OneOf(SCHEME_IDS))
    area_team = _text(
        "Only CCGs of this area team (code, e.g. E39000015).",
        validate=validate.OneOf(AREA_TEAMS),
    )
    region = _text(
        "Only CCGs of this region (code, e.g. E40000003).", validate=validate.OneOf(REGIONS)
    )
    status = _text("final or provisional.", validate=validate.OneOf(STATUSES))
    sort = _text(
        "Column to sort by; prefix with - for descending. Ties: scheme, then CCG.",
        load_default="ccg",
        validate=validate.OneOf(SORTS),
    )


class SummaryQuery(PagedQuery):
    scheme = _text("Only this scheme.", validate=validate.OneOf(SCHEME_IDS))
    group_by = _text(
        "nation (England), region or area_team.",
        load_default="nation",
        validate=validate.OneOf(GROUP_LEVELS),
    )


class AttainmentQuery(SummaryQuery):
    code = _text(
        "Only this group (a region or area team code; E92000001 for England).",
        validate=validate.OneOf(GROUP_CODES),
    )
    kind = _text("measure or standard.", validate=validate.OneOf(ITEM_KINDS))


class SchemeQuery(Query):
    scheme = _text(
        "The scheme, e.g. qp-2013-14.", required=True, validate=validate.OneOf(SCHEME_IDS)
    )


class TimelineQuery(PagedQuery):
    scheme = _text(
        "The scheme, e.g. qp-2013-14.", required=True, validate=validate.OneOf(SCHEME_IDS)
    )


class DecisionRow(ma.Schema):
    """A CCG's current decision, flattened (the full document: /reports/ccgs/{ccg}/decision)."""

    scheme = fields.String()
    ccg = fields.String()
    ccg_name = fields.String()
    area_team_code = fields.String()
    area_team_name = fields.String()
    region_code = fields.String()
    region_name = fields.String()
    status = fields.String()
    population = fields.Integer(allow_none=True)
    maximum_pence = fields.Integer()
    earned_pence = fields.Integer()
    payable_pence = fields.Integer()
    share_paid = fields.String(
        allow_none=True, metadata={"description": "payable / maximum, 4 places."}
    )
    met_share = fields.String()
    deduction_factor = fields.String()
    measures_met = fields.Integer()
    standards_not_met = fields.Integer()
    quality_gate_open = fields.Boolean(allow_none=True)
    financial_gate_open = fields.Boolean(allow_none=True)
    position = fields.Integer(metadata={"description": "Log position of the CCG's last event."})
    as_of = fields.String(allow_none=True)
    engine_version = fields.String()
    inputs_digest = fields.String()


class SummaryRow(ma.Schema):
    scheme = fields.String()
    level = fields.String()
    code = fields.String()
    name = fields.String()
    ccgs = fields.Integer(metadata={"description": "CCGs with a record in the scheme."})
    final = fields.Integer()
    provisional = fields.Integer()
    payable_pence = fields.Integer()
    earned_pence = fields.Integer()
    maximum_pence = fields.Integer(metadata={"description": "500p x recorded populations."})
    share_of_maximum_paid = fields.String(allow_none=True)


class AttainmentRow(ma.Schema):
    scheme = fields.String()
    level = fields.String()
    code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"description": "measure or standard"})
    item = fields.String(metadata={"description": "measure or standard id"})
    ccgs = fields.Integer()
    met = fields.Integer()
    not_met = fields.Integer()
    pending = fields.Integer()
    share_met = fields.String(allow_none=True)
    earned_pence = fields.Integer(metadata={"description": "Earned by the measure, before gates."})


class TimelineRow(ma.Schema):
    position = fields.Integer()
    recorded_at = fields.String()
    event_type = fields.String()
    event_id = fields.String()
    status = fields.String()
    payable_pence = fields.Integer()
    previous_status = fields.String(allow_none=True)
    previous_payable_pence = fields.Integer(allow_none=True)
    payable_change_pence = fields.Integer(allow_none=True)
    inputs_digest = fields.String()


class ProjectionState(ma.Schema):
    built = fields.Boolean()
    generation = fields.Integer(allow_none=True)
    position = fields.Integer()
    events_applied = fields.Integer()
    updated_at = fields.String(allow_none=True)
    lag_positions = fields.Integer()
    lag_seconds = fields.Float()


class ReportStatus(ma.Schema):
    head = fields.Integer(metadata={"description": "Last position in the event log."})
    projections = fields.Dict(keys=fields.String(), values=fields.Nested(ProjectionState))
