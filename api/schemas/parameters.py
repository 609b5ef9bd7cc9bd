"""Path parameters and response headers of the OpenAPI document, one definition each.

The CCG and scheme of a path are documented as the reference data's codes (an
unknown one is a 404 problem, see ``api.auth.check_subject``).
"""

from __future__ import annotations

from typing import Any


def path_parameter(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"in": "path", "name": name, "required": True, "schema": schema}
    if description:
        found["description"] = description
    return found


def header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"schema": {"type": kind}, "description": description}


CCG = path_parameter("ccg", {"$ref": "#/components/schemas/CCGCode"})
SCHEME = path_parameter("scheme", {"$ref": "#/components/schemas/SchemeId"})
#: A CCG's record in a scheme: /ccgs/{ccg}/schemes/{scheme}/…
RECORD = [CCG, SCHEME]
ISSUE = path_parameter(
    "issue_id", {"type": "string"}, "An issued decision of this CCG, e.g. 06F.qp-2013-14.1."
)
APPEAL = path_parameter(
    "appeal_id", {"type": "string"}, "An appeal of this CCG, e.g. 06F.qp-2013-14.appeal-1."
)
POSITION = path_parameter(
    "position",
    {"type": "integer", "minimum": 1},
    "The event's log position (as in receipts, history and decisions).",
)
IF_NONE_MATCH = [
    {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "schema": {"type": "string"},
        "description": "An ETag you hold: 304 if the document is unchanged.",
    }
]
ETAG = {"ETag": header("Send back as If-Match on a write, or If-None-Match.")}
LOCATION = {"Location": header("Where to read it.")}
PROJECTION_POSITION = {
    "X-Projection-Position": header("The log position the figures reflect.", "integer")
}
