"""Acceptance (issue 4): after the demo year, England's payable total in the summaries
read model equals the sum of every CCG's decision computed by the engine directly."""

from __future__ import annotations

import pytest

from ledger.demo.year import demo_commands
from ledger.domain.ccgs import ccgs
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import decide
from tests.projections.projkit import SCHEME, Harness

pytestmark = pytest.mark.slow


def test_national_payable_equals_the_sum_of_every_ccgs_decision(harness: Harness) -> None:
    harness.load(demo_commands(), batch_size=500)
    head = harness.ledger.max_position()
    assert harness.project(batch_size=500) == {
        "decisions": head, "summaries": head, "attainment": head,
    }  # fmt: skip
    scheme = get_scheme(SCHEME)
    decisions = {ccg: decide(scheme, harness.ledger.facts(ccg, SCHEME)) for ccg in ccgs()}
    direct = {ccg: d.payable_pence for ccg, d in decisions.items()}
    (england,) = harness.read.summaries(scheme=SCHEME, group_by="nation").items
    assert england["ccgs"] == len(ccgs()) == 211
    assert england["payable_pence"] == sum(direct.values())
    finals = sum(1 for ccg in ccgs() if harness.ledger.decision(ccg, SCHEME).status == "final")
    assert england["final"] == finals and england["provisional"] == 211 - finals
    regions = harness.read.summaries(scheme=SCHEME, group_by="region").items
    assert len(regions) == 4
    assert sum(r["payable_pence"] for r in regions) == sum(direct.values())
    teams = harness.read.summaries(scheme=SCHEME, group_by="area_team", page_size=100).items
    assert sum(t["payable_pence"] for t in teams) == sum(direct.values())
    # about a third of the national pot, as in 2013/14
    assert 0.2 < int(england["payable_pence"]) / int(england["maximum_pence"]) < 0.5
