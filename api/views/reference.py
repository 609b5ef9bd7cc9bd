"""Reference data: the CCGs of April 2013 (with area team and region) and the schemes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView

from api.auth import allow
from api.jsonio import Blueprint
from api.problems import Problem
from api.schemas import parameters
from api.schemas.reference import CCG, CCGList, CCGQuery, SchemeList
from api.schemas.reference import Scheme as SchemeDocument
from ledger.domain.ccgs import ccgs, get_ccg
from ledger.domain.errors import UnknownScheme
from ledger.domain.scheme import Scheme, get_scheme, schemes

blp = Blueprint(
    "reference",
    __name__,
    url_prefix="/reference",
    description="CCGs, area teams, regions and the Quality Premium schemes.",
)


def scheme_document(scheme: Scheme) -> dict[str, Any]:
    return {
        "id": scheme.id,
        "title": scheme.title,
        "year": scheme.year,
        "assessment_period": scheme.assessment_period,
        "periods": list(scheme.periods),
        "pence_per_head": scheme.pence_per_head,
        "appeal_window_days": scheme.appeal_window_days,
        "reduction_per_standard": str(scheme.reduction_per_standard),
        "measures": [
            {
                "id": m.id,
                "name": m.name,
                "share": str(m.share),
                "local": m.local,
                "criteria": [
                    {
                        "id": c.id,
                        "direction": c.direction,
                        "fixed_target": None if c.fixed_target is None else str(c.fixed_target),
                        # "cases": counted from the HCAI case events (issue 14).
                        "value": "submitted" if c.derived_from_cases is None else "cases",
                    }
                    for c in m.criteria
                ],
            }
            for m in scheme.measures
        ],
        "standards": [
            {"id": s.id, "name": s.name, "direction": s.direction, "threshold": str(s.threshold)}
            for s in scheme.standards
        ],
        "digest": scheme.digest,
    }


@blp.route("/ccgs", endpoint="ccgs")
class CCGsView(MethodView):
    @allow("read-reference")
    @blp.arguments(CCGQuery, location="query", as_kwargs=True)
    @blp.response(200, CCGList)
    def get(self, area_team: str | None = None, region: str | None = None) -> dict[str, Any]:
        """The CCGs, optionally only those of one area team or region."""
        found = [
            asdict(c)
            for c in ccgs().values()
            if (area_team is None or c.area_team_code == area_team)
            and (region is None or c.region_code == region)
        ]
        return {"count": len(found), "ccgs": found}


@blp.route("/ccgs/<ccg>", endpoint="ccg", parameters=[parameters.CCG])
class CCGView(MethodView):
    @allow("read-reference")
    @blp.response(200, CCG)
    def get(self, ccg: str) -> dict[str, Any]:
        """One CCG, by ODS code."""
        found = get_ccg(ccg)
        if found is None:
            raise Problem(404, "unknown-ccg", f"There is no CCG with ODS code {ccg!r}.")
        return asdict(found)


@blp.route("/schemes", endpoint="schemes")
class SchemesView(MethodView):
    @allow("read-reference")
    @blp.response(200, SchemeList)
    def get(self) -> dict[str, Any]:
        """The Quality Premium schemes the ledger knows (each year's rules, as data)."""
        return {"schemes": [scheme_document(s) for s in schemes().values()]}


@blp.route("/schemes/<scheme>", endpoint="scheme", parameters=[parameters.SCHEME])
class SchemeView(MethodView):
    @allow("read-reference")
    @blp.response(200, SchemeDocument)
    def get(self, scheme: str) -> dict[str, Any]:
        """One scheme: its measures, shares, criteria and constitution standards."""
        try:
            return scheme_document(get_scheme(scheme))
        except UnknownScheme as e:
            raise Problem(404, "unknown-scheme", e.message) from None
