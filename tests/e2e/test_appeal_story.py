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
from tests.ledgerkit import AppealYear

S = "qp-2013-14"
POPULATION = AppealYear.POPULATION
MAXIMUM = 500 * POPULATION  # 224,976,500 pence


def cmd(ledger: QPLedger, actor: str, **fields: Any) -> int:
    return ledger.execute({"ccg": "06F", "scheme": S, **fields}, actor=actor).position


def a_year(ledger: QPLedger) -> None:
    cmd(ledger, "board", type="population_recorded", population=POPULATION, source="ONS")
    measures = [
        {"slot": s, "name": n, "criterion": c, "direction": d} for s, n, c, d in AppealYear.LOCALS
    ]
    cmd(ledger, "ccg:06F", type="local_measures_selected", measures=measures)
    for (measure, criterion), (baseline, target) in AppealYear.THRESHOLDS.items():
        cmd(
            ledger,
            "area-team:E39000015",
            type="threshold_agreed",
            measure=measure,
            criterion=criterion,
            baseline=baseline,
            target=target,
        )
    for (measure, criterion), value in AppealYear.VALUES.items():
        cmd(
            ledger,
            "ccg:06F",
            type="measure_submitted",
            measure=measure,
            criterion=criterion,
            period="2013-14",
            value=value,
        )
    for standard, value in AppealYear.STANDARDS.items():
        cmd(
            ledger,
            "board",
            type="constitution_standard_submitted",
            standard=standard,
            period="2013-14",
            value=value,
        )
    cmd(ledger, "board", type="quality_failure_flagged", **AppealYear.FLAG)
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
