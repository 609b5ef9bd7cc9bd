"""Read model: attainment of each measure and constitution standard across CCGs.

For each scheme, group (England, a region, an area team) and item (a measure
of the scheme, or an NHS Constitution standard): how many CCGs have met it,
not met it, or are still pending (no value or no agreed target yet), and,
for measures, the pence earned by it before gates and deductions. Kept as
group totals (:mod:`ledger.projections.totals`), one row per item of a group.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text

from ledger.projections import totals

STATES = {True: "met", False: "not_met", None: "pending"}
COUNTERS = ("ccgs", "met", "not_met", "pending", "earned_pence")


def states(document: dict[str, Any]) -> dict[str, list[Any]]:
    """``{"measure:pyll": ["met", earned_pence], "standard:ae-4-hours": ["not_met", 0]}``."""
    out: dict[str, list[Any]] = {}
    for c in document["components"]:
        out[f"measure:{c['measure']}"] = [STATES[c["met"]], int(c["earned_pence"])]
    for d in document["deductions"]:
        out[f"standard:{d['standard']}"] = [STATES[d["met"]], 0]
    return out


def define_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    members = totals.members_table(metadata, prefix, Column("states", Text, nullable=False))
    items = [
        Column("kind", String(16), primary_key=True),
        Column("item", String(64), primary_key=True),
    ]
    counters = [
        *totals.integers("ccgs", "met", "not_met", "pending"),
        *totals.bigints("earned_pence"),
    ]
    return {"members": members, "groups": totals.groups_table(metadata, prefix, items, counters)}


class AttainmentView(totals.GroupTotalsView):
    """Met / not met / pending counts per item of each group."""

    name = "attainment"
    define_tables = staticmethod(define_tables)
    item_keys = ("kind", "item")
    counters = COUNTERS

    @staticmethod
    def member_row(document: dict[str, Any]) -> dict[str, Any]:
        states_text = json.dumps(states(document), sort_keys=True, separators=(",", ":"))
        return {**totals.member_key(document), "states": states_text}

    @staticmethod
    def contributions(member: dict[str, Any]) -> totals.Contributions:
        """Per (kind, item), this CCG's contribution to the counts."""
        out: totals.Contributions = {}
        for item, (state, earned) in json.loads(member["states"]).items():
            kind, item_id = item.split(":", 1)
            out[kind, item_id] = Counter({"ccgs": 1, state: 1, "earned_pence": int(earned)})
        return out


class AttainmentProjection(totals.GroupTotalsProjection[AttainmentView]):
    """Keeps measure and standard attainment across CCGs."""

    name = "attainment"
    view_class = AttainmentView


expected_rows = AttainmentView.expected_rows
