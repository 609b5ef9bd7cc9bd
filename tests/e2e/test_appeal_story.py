"""The appeal story, end to end on SQLite and PostgreSQL.

A CCG's year; the Board issues the decision; a late correction arrives; the
diff explains the change event by event; the CCG appeals a quality-failure
flag; the appeal is upheld; a revised decision is issued; the first decision
still reproduces identically at its own position; an auditor lists the chain.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.engine.decide import round_half_up
from ledger.service.application import QPLedger

S = "qp-2013-14"
POPULATION = 449_953
MAXIMUM = 500 * POPULATION  # 224,976,500 pence


def cmd(ledger: QPLedger, actor: str, **fields: Any) -> int:
    return ledger.execute({"ccg": "06F", "scheme": S, **fields}, actor=actor).position


def a_year(ledger: QPLedger) -> None:
    cmd(ledger, "board", type="population_recorded", population=POPULATION, source="ONS")
    cmd(
        ledger,
        "ccg:06F",
        type="local_measures_selected",
        measures=[
            {
                "slot": "local-1",
                "name": "Dementia diagnosis",
                "criterion": "dementia-rate",
                "direction": "higher",
            },
            {
                "slot": "local-2",
                "name": "COPD admissions",
                "criterion": "copd-admissions",
                "direction": "lower",
            },
            {
                "slot": "local-3",
                "name": "Stroke care",
                "criterion": "stroke-tia",
                "direction": "higher",
            },
        ],
    )
    agreed = {
        ("pyll", "pyll-rate"): (2100, 2000),
        ("avoidable-emergency-admissions", "admissions-rate"): (1200, 1150),
        ("friends-and-family", "experience-score"): (70, 72),
        ("hcai", "cdiff-cases"): (40, 35),
        ("local-1", "dementia-rate"): (0.45, 0.5),
        ("local-2", "copd-admissions"): (300, 280),
        ("local-3", "stroke-tia"): (0.6, 0.65),
    }
    for (measure, criterion), (baseline, target) in agreed.items():
        cmd(
            ledger,
            "area-team:E39000015",
            type="threshold_agreed",
            measure=measure,
            criterion=criterion,
            baseline=baseline,
            target=target,
        )
    values = {
        ("pyll", "pyll-rate"): 1990,
        ("avoidable-emergency-admissions", "admissions-rate"): 1160,
        ("friends-and-family", "rollout"): 1,
        ("friends-and-family", "experience-score"): 74,
        ("hcai", "mrsa-cases"): 0,
        ("hcai", "cdiff-cases"): 30,
        ("local-1", "dementia-rate"): 0.52,
        ("local-2", "copd-admissions"): 275,
        ("local-3", "stroke-tia"): 0.7,
    }
    for (measure, criterion), value in values.items():
        cmd(
            ledger,
            "ccg:06F",
            type="measure_submitted",
            measure=measure,
            criterion=criterion,
            period="2013-14",
            value=value,
        )
    for standard, value in {
        "rtt-18-weeks": 0.93,
        "ae-4-hours": 0.94,
        "cancer-2-week-wait": 0.95,
        "ambulance-cat-a-8-min": 0.8,
    }.items():
        cmd(
            ledger,
            "board",
            type="constitution_standard_submitted",
            standard=standard,
            period="2013-14",
            value=value,
        )
    cmd(
        ledger,
        "board",
        type="quality_failure_flagged",
        flag_id="QF-2013-07",
        description="Serious incident at the main acute provider",
    )
    cmd(ledger, "ccg:06F", type="financial_position_declared", outturn="balanced", amount_pence=0)


def test_issue_correct_appeal_revise_and_reproduce(ledger: QPLedger) -> None:
    desk = ledger.determinations
    a_year(ledger)

    # The flag closes the quality gate: nothing is payable.
    first = desk.issue("06F", S, actor="board")
    assert first["payable_pence"] == 0
    assert first["status"] == "final"
    assert first["replaces"] is None

    # A late correction: admissions 1160 (> target 1150, not met) corrected to 1140 (met).
    correction = cmd(
        ledger,
        "ccg:06F",
        type="measure_submitted",
        measure="avoidable-emergency-admissions",
        criterion="admissions-rate",
        period="2013-14",
        value=1140,
        reason="late coding correction",
    )
    explained = desk.diff("06F", S, {"issue_id": first["issue_id"]}, {"position": correction})
    changed = {(c["line"], c["key"], c["field"]): c for c in explained["changes"]}
    value_change = changed[("criterion", "avoidable-emergency-admissions/admissions-rate", "value")]
    assert (value_change["old"], value_change["new"]) == (1160, 1140)
    assert [e["position"] for e in value_change["events"]] == [correction]
    assert changed[("component", "avoidable-emergency-admissions", "met")]["new"] is True
    # Still behind the closed gate, so the payable figure has not moved.
    assert explained["payable_change_pence"] == 0

    # The CCG appeals the flag, adds evidence; the Board upholds and rescinds it.
    appeal = desk.lodge_appeal(
        "06F",
        S,
        first["issue_id"],
        grounds="The incident was not a serious quality failure of the CCG",
        disputes=["quality-failure"],
        actor="ccg:06F",
    )
    assert appeal["status"] == "lodged"
    desk.add_evidence(
        "06F",
        S,
        appeal["appeal_id"],
        text="Provider RCA report",
        attachments=[
            {"name": "rca.pdf", "sha256": "ab" * 32, "size": 1024, "media_type": "application/pdf"}
        ],
        actor="ccg:06F",
    )
    upheld = desk.determine_appeal(
        "06F",
        S,
        appeal["appeal_id"],
        outcome="upheld",
        determination="Flag raised in error",
        remedy=[
            {
                "type": "quality_failure_rescinded",
                "ccg": "06F",
                "scheme": S,
                "flag_id": "QF-2013-07",
            }
        ],
        actor="board",
    )
    assert upheld["status"] == "upheld"
    assert [r["type"] for r in upheld["remedy"]] == ["quality_failure_rescinded"]

    revised = desk.issue("06F", S, actor="board", appeal_id=appeal["appeal_id"])
    assert revised["replaces"] == first["issue_id"]
    assert revised["appeal_id"] == appeal["appeal_id"]
    # All seven measures met; A&E 0.94 < 0.95 takes 25% off.
    assert revised["payable_pence"] == round_half_up(MAXIMUM * Decimal("0.75"))

    # The first decision still reproduces exactly at its own position.
    assert desk.reproduce("06F", S, first["issue_id"])["result"] == "identical"
    assert desk.reproduce("06F", S, revised["issue_id"])["result"] == "identical"

    # The auditor's view of the whole chain.
    chain = desk.chain("06F", S)
    assert [i["issue_id"] for i in chain["issued"]] == [first["issue_id"], revised["issue_id"]]
    assert chain["issued"][0]["superseded_by"] == revised["issue_id"]
    assert chain["appeals"][0]["revised_by"] == revised["issue_id"]
    assert chain["appeals"][0]["evidence"][0]["attachments"][0]["size"] == 1024
