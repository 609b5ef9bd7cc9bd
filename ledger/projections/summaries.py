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

from ledger.projections import totals

PENCE = ("payable_pence", "earned_pence", "maximum_pence")
COUNTERS = ("ccgs", "final", "provisional", *PENCE)


def define_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    status = Column("status", String(16), nullable=False)
    members = totals.members_table(metadata, prefix, status, *totals.bigints(*PENCE))
    counters = [
        *totals.integers("ccgs", "final", "provisional"),
        *totals.bigints(*PENCE, totals.EVENTS),
    ]
    return {"members": members, "groups": totals.groups_table(metadata, prefix, (), counters)}


class SummariesView(totals.GroupTotalsView):
    """CCGs, decisions by status and pence, per group."""

    name = "summaries"
    define_tables = staticmethod(define_tables)
    counters = (*COUNTERS, totals.EVENTS)

    @staticmethod
    def member_row(document: dict[str, Any]) -> dict[str, Any]:
        """A CCG's contribution to its groups' totals (without ``events_applied``)."""
        return {
            **totals.member_key(document),
            "status": document["status"],
            **{f: document[f] for f in PENCE},
        }

    @staticmethod
    def contributions(member: dict[str, Any]) -> totals.Contributions:
        status = member["status"]
        counts = {
            "ccgs": 1,
            "final": int(status == "final"),
            "provisional": int(status == "provisional"),
        }
        return {(): Counter({**counts, **{f: int(member[f]) for f in PENCE}})}


class SummariesProjection(totals.GroupTotalsProjection[SummariesView]):
    """Keeps the area team, region and England totals."""

    name = "summaries"
    view_class = SummariesView


expected_rows = SummariesView.expected_rows
