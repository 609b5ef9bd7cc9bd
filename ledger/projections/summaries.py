"""Read model: totals by area team, region and nation.

For each scheme and each group (England, a region, an area team): how many
CCGs have a record, how many decisions are final or still provisional, the
payable, earned and maximum totals (the maximum pot is 500p x population for
each CCG whose population is recorded), from which the share of the pot paid
is derived when read. Kept as group totals (:mod:`ledger.projections.totals`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Column, MetaData, String, Table

from ledger.projections.totals import (
    EVENTS,
    Contributions,
    GroupTotalsProjection,
    GroupTotalsView,
    bigints,
    groups_table,
    integers,
    member_key,
    members_table,
)

PENCE = ("payable_pence", "earned_pence", "maximum_pence")
COUNTERS = ("ccgs", "final", "provisional", *PENCE)


def define_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    members = members_table(
        metadata, prefix, Column("status", String(16), nullable=False), *bigints(*PENCE)
    )
    groups = groups_table(
        metadata, prefix, (), [*integers("ccgs", "final", "provisional"), *bigints(*PENCE, EVENTS)]
    )
    return {"members": members, "groups": groups}


class SummariesView(GroupTotalsView):
    """CCGs, decisions by status and pence, per group."""

    name = "summaries"
    define_tables = staticmethod(define_tables)
    counters = (*COUNTERS, EVENTS)

    @staticmethod
    def member_row(document: dict[str, Any]) -> dict[str, Any]:
        """A CCG's contribution to its groups' totals (without ``events_applied``)."""
        return {
            **member_key(document),
            "status": document["status"],
            **{f: document[f] for f in PENCE},
        }

    @staticmethod
    def contributions(member: dict[str, Any]) -> Contributions:
        status = member["status"]
        counts = {
            "ccgs": 1,
            "final": int(status == "final"),
            "provisional": int(status == "provisional"),
        }
        return {(): Counter({**counts, **{f: int(member[f]) for f in PENCE}})}


class SummariesProjection(GroupTotalsProjection[SummariesView]):
    """Keeps the area team, region and England totals."""

    name = "summaries"
    view_class = SummariesView


expected_rows = SummariesView.expected_rows
