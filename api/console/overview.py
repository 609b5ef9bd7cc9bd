"""The national overview: every CCG's decision, totals and charts, and its CSV."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from api.console import require
from api.console.charts import bars
from api.console.pages import bp, page, scheme_arg
from api.csvio import csv_response
from api.schemas import reports as rs
from api.views.reports import read_models
from ledger.domain.scheme import schemes
from ledger.projections.read import DECISION_SORTS, share


def overview_rows(scheme: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(every CCG's row in the table's sort order, the filtered rows, read-model position)."""
    sort = request.args.get("sort") or "ccg"
    if sort.lstrip("-") not in DECISION_SORTS:
        sort = "ccg"
    result = read_models().decisions(scheme=scheme, sort=sort, page_size=1000)
    region, area = request.args.get("region"), request.args.get("area_team")
    status, text = request.args.get("status"), (request.args.get("q") or "").strip().lower()
    shown = [
        r
        for r in result.items
        if (not region or r["region_code"] == region)
        and (not area or r["area_team_code"] == area)
        and (not status or r["status"] == status)
        and (not text or text in r["ccg"].lower() or text in r["ccg_name"].lower())
    ]
    return result.items, shown, result.position


@bp.get("/overview")
def overview() -> Response:
    require("read-reports")
    scheme = scheme_arg()
    everyone, shown, position = overview_rows(scheme)
    pot = sum(int(r["maximum_pence"]) for r in everyone)
    payable = sum(int(r["payable_pence"]) for r in everyone)
    regions = read_models().summaries(scheme=scheme, group_by="region", page_size=1000).items
    areas = read_models().summaries(scheme=scheme, group_by="area_team", page_size=1000).items
    return page(
        "overview.html",
        title="National overview",
        scheme=scheme,
        schemes=list(schemes()),
        rows=shown,
        total_ccgs=len(everyone),
        pot=pot,
        payable=payable,
        share_paid=share(payable, pot),
        paid_nothing=sum(1 for r in everyone if not r["payable_pence"]),
        shown_payable=sum(int(r["payable_pence"]) for r in shown),
        position=position,
        region_chart=bars(regions, title="Payable and pot by region"),
        area_chart=bars(areas, title="Payable and pot by area team"),
        regions=sorted({(r["region_code"], r["region_name"]) for r in everyone}),
        areas=sorted({(r["area_team_code"], r["area_team_name"]) for r in everyone}),
        args=request.args.to_dict(),
        sort=request.args.get("sort") or "ccg",
    )


@bp.get("/overview.csv")
def overview_csv() -> Response:
    require("read-reports")
    scheme = scheme_arg()
    _, shown, position = overview_rows(scheme)
    disposition = f'attachment; filename="decisions-{scheme}.csv"'
    response = csv_response(shown, rs.DecisionRow(), disposition)
    response.headers["X-Projection-Position"] = str(position)
    return response
