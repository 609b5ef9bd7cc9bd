"""Reference data: the CCGs of April 2013 and the Quality Premium schemes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from api.schemas.common import Document


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
