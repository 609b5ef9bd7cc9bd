"""The read models after a projector has caught up: what each one holds, on both backends."""

from __future__ import annotations

import itertools
import json
from collections import Counter

from ledger.domain.ccgs import get_ccg
from tests.projections.projkit import SCHEME, Harness, as_ledger_returns, demo


def test_current_decisions_are_the_ledgers_decisions(harness: Harness) -> None:
    commands = demo(3)
    harness.load(commands[:100])
    harness.project(batch_size=37)
    harness.load(commands[100:])  # projected incrementally, across batch boundaries
    positions = harness.project(batch_size=37)
    head = harness.ledger.max_position()
    assert positions == {"decisions": head, "summaries": head, "attainment": head}
    page = harness.read.decisions(scheme=SCHEME, page_size=10)
    assert page.total == 3 and page.position == head
    for row in page.items:
        now = harness.ledger.decision(row["ccg"], SCHEME).document
        stored, _ = harness.read.decision_document(row["ccg"], SCHEME)
        assert stored is not None
        document = as_ledger_returns(harness.ledger, stored)
        assert (
            document
            == harness.ledger.decision(row["ccg"], SCHEME, position=row["position"]).document
        )
        # The same decision as now, apart from when it was taken (and the log's head then).
        when = ("position", "as_of", "log")
        assert {k: v for k, v in document.items() if k not in when} == {
            k: v for k, v in now.items() if k not in when
        }
        assert row["payable_pence"] == now["payable_pence"] and row["status"] == now["status"]
        assert row["area_team_code"] == get_ccg(row["ccg"]).area_team_code  # type: ignore[union-attr]
    assert harness.check().clean


def test_the_timeline_holds_every_change_of_payable_or_status(harness: Harness) -> None:
    harness.load(demo(2))
    harness.project()
    ccg = "00C"
    rows = harness.read.timeline(ccg, SCHEME, page_size=1000).items
    assert rows[0]["previous_status"] is None and rows[0]["event_type"] == "record_opened"
    positions = [r["position"] for r in rows]
    assert positions == sorted(set(positions))
    for before, after in itertools.pairwise(rows):
        assert (after["previous_status"], after["previous_payable_pence"]) == (
            before["status"],
            before["payable_pence"],
        )
        assert (after["status"], after["payable_pence"]) != (
            before["status"],
            before["payable_pence"],
        )
        assert after["payable_change_pence"] == after["payable_pence"] - before["payable_pence"]
    # Between two timeline rows nothing changed: check every event of the CCG.
    changes = {r["position"]: r for r in rows}
    last = None
    for event in harness.ledger.history(ccg, SCHEME):
        d = harness.ledger.decision(ccg, SCHEME, position=event["position"]).document
        state = (d["status"], d["payable_pence"])
        assert (event["position"] in changes) == (state != last), event["position"]
        if event["position"] in changes:
            assert changes[event["position"]]["recorded_at"] == d["as_of"]
        last = state


def test_summaries_and_attainment_add_up(harness: Harness) -> None:
    harness.load(demo(6))
    harness.project(batch_size=50)
    decisions = harness.read.decisions(page_size=100).items
    nation = harness.read.summaries(group_by="nation").items
    assert len(nation) == 1
    england = nation[0]
    assert england["ccgs"] == len(decisions) == 6
    assert england["payable_pence"] == sum(d["payable_pence"] for d in decisions)
    assert england["maximum_pence"] == sum(d["maximum_pence"] for d in decisions)
    assert england["final"] + england["provisional"] == 6
    by_region = Counter()
    for d in decisions:
        by_region[d["region_code"]] += d["payable_pence"]
    regions = harness.read.summaries(group_by="region").items
    assert {r["code"]: r["payable_pence"] for r in regions} == dict(by_region)
    teams = harness.read.summaries(group_by="area_team", page_size=100).items
    assert sum(t["payable_pence"] for t in teams) == england["payable_pence"]
    attainment = harness.read.attainment(group_by="nation", page_size=100).items
    assert {(a["kind"], a["item"]) for a in attainment} >= {
        ("measure", "pyll"),
        ("standard", "ae-4-hours"),
    }
    for item in attainment:
        assert item["met"] + item["not_met"] + item["pending"] == item["ccgs"] == 6
    pyll = next(a for a in attainment if a["item"] == "pyll")
    met = sum(
        1
        for d in decisions
        for c in json.loads(json.dumps(harness.read.decision_document(d["ccg"], SCHEME)[0]))[
            "components"
        ]
        if c["measure"] == "pyll" and c["met"] is True
    )
    assert pyll["met"] == met


def test_other_events_on_the_log_move_the_position_but_change_nothing(harness: Harness) -> None:
    harness.load(demo(1))
    harness.project()
    before = harness.read.status()
    harness.ledger.determinations.issue("00C", SCHEME, actor="board")
    head = harness.ledger.max_position()
    assert head > before["decisions"]["position"]
    harness.project()
    after = harness.read.status()
    for name in after:
        assert after[name]["position"] == head
        assert after[name]["events_applied"] == before[name]["events_applied"]
    assert harness.check().clean
