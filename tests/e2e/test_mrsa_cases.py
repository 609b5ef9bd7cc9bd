"""User story: whose MRSA case was it? (issue 14)

The Luton and Dunstable Hospital (trust RC9) serves patients of three CCGs:
Luton (06P), Bedfordshire (06F) and Herts Valleys (06N). Each has met its
C. difficile target, so each earns the HCAI share (0.125 of its maximum)
while no MRSA case is assigned to it. A blood culture taken at RC9 is
positive for MRSA; the patient's CCG of responsibility is Luton. The
post-infection review assigns the case to Luton: Luton alone loses its HCAI
share (zero tolerance), the other two CCGs served by the trust lose nothing.
Luton challenges; on arbitration the case is reassigned to the trust and
Luton's share comes back.

Money by hand (docs/decision-rules.md): maximum = 500 p x population; the
HCAI share is round_half_up(maximum x 0.125) and, with every other measure
pending, it is the whole payable amount.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.domain.errors import RuleViolation
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14-pir"
TRUST = "RC9"
LUTON, BEDFORDSHIRE, HERTS_VALLEYS = "06P", "06F", "06N"
POPULATIONS = {LUTON: 219_687, BEDFORDSHIRE: 449_953, HERTS_VALLEYS: 616_457}
#: round_half_up(500 p x population x 0.125)
HCAI_SHARE = {LUTON: 13_730_438, BEDFORDSHIRE: 28_122_063, HERTS_VALLEYS: 38_528_563}
CASE = "MRSA-RC9-2013-001"


def cmd(kind: str, ccg: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


#: The case as the Board reports it: an MRSA bacteraemia at the trust, against Luton.
REPORTED = cmd(
    "hcai_case_reported",
    LUTON,
    case_id=CASE,
    organism="mrsa",
    specimen_date="2013-11-05",
    trust=TRUST,
)
#: The post-infection review's first assignment: to Luton, the patient's CCG.
ASSIGNED_TO_LUTON = cmd(
    "hcai_case_assigned",
    LUTON,
    case_id=CASE,
    assigned_to=f"ccg:{LUTON}",
    assigned_by="PIR lead, NHS Luton CCG",
    pir_reference="PIR/RC9/2013/14",
)


def payable_all(ledger: QPLedger, **point: Any) -> dict[str, int]:
    return {c: ledger.decision(c, SCHEME, **point).payable_pence for c in POPULATIONS}


def mrsa_line(document: dict[str, Any]) -> dict[str, Any]:
    hcai = next(c for c in document["components"] if c["measure"] == "hcai")
    return next(c for c in hcai["criteria"] if c["criterion"] == "mrsa-cases")


def just_before(recorded_at: str) -> str:
    moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
    return (moment - timedelta(microseconds=1)).astimezone(UTC).isoformat()


def test_a_case_assigned_then_reassigned_after_challenge(ledger: QPLedger) -> None:
    for ccg, population in POPULATIONS.items():
        ledger.execute(cmd("population_recorded", ccg, population=population, source="ONS"))
        ledger.execute(
            cmd(
                "threshold_agreed",
                ccg,
                measure="hcai",
                criterion="cdiff-cases",
                baseline=40,
                target=35,
            ),
            actor="area-team:E39000015",
        )
        ledger.execute(
            cmd(
                "measure_submitted",
                ccg,
                measure="hcai",
                criterion="cdiff-cases",
                period="2013-14",
                value=31,
            ),
            actor=f"ccg:{ccg}",
        )
    clean = payable_all(ledger)
    assert clean == HCAI_SHARE

    reported = ledger.execute(REPORTED, actor="board:hcai-surveillance")
    # Reported but not yet reviewed: assigned to nobody, so it costs nobody anything.
    assert payable_all(ledger) == HCAI_SHARE

    assigned = ledger.execute(
        {**ASSIGNED_TO_LUTON, "reason": "community-onset; patient discharged 10 days earlier"},
        actor="area-team:E39000015",
    )
    after_assignment = {**HCAI_SHARE, LUTON: 0}
    assert payable_all(ledger) == after_assignment
    luton = ledger.decision(LUTON, SCHEME).document
    line = mrsa_line(luton)
    assert (line["value"], line["met"], line["value_source"]) == (1, False, "cases")
    (case,) = line["cases"]
    assert case["case_id"] == CASE and case["counted"] is True
    assert (case["trust"], case["assigned_by"], case["pir_reference"]) == (
        TRUST,
        "PIR lead, NHS Luton CCG",
        "PIR/RC9/2013/14",
    )
    assert case["case_event"] == assigned.event_id
    attributed = line["events"][0]
    assert attributed["type"] == "hcai_case_attributed"
    # the other CCGs the trust serves: no case line entries at all
    for other in (BEDFORDSHIRE, HERTS_VALLEYS):
        assert mrsa_line(ledger.decision(other, SCHEME).document)["cases"] == []

    reassigned = ledger.execute(
        cmd(
            "hcai_case_assigned",
            LUTON,
            case_id=CASE,
            assigned_to=f"trust:{TRUST}",
            assigned_by="arbitration panel, NHS England Hertfordshire and the South Midlands",
            pir_reference="PIR/RC9/2013/14-A",
            reason="challenge upheld: line infection acquired in hospital",
        ),
        actor="area-team:E39000015",
    )
    assert payable_all(ledger) == HCAI_SHARE
    line = mrsa_line(ledger.decision(LUTON, SCHEME).document)
    assert (line["value"], line["met"]) == (0, True)
    (case,) = line["cases"]
    assert (case["counted"], case["now_assigned_to"]) == (False, f"trust:{TRUST}")
    assert (case["now_assigned_by"], case["now_pir_reference"]) == (
        "arbitration panel, NHS England Hertfordshire and the South Midlands",
        "PIR/RC9/2013/14-A",
    )
    assert case["case_event"] == reassigned.event_id

    # -- replay: by position and by recorded time, each moment exactly as it was --
    moments = [(reported, HCAI_SHARE), (assigned, after_assignment), (reassigned, HCAI_SHARE)]
    for receipt, expected in moments:
        assert payable_all(ledger, position=receipt.position) == expected
        assert payable_all(ledger, as_of=receipt.recorded_at) == expected
    # The moment before the reassignment (its first event, on Luton's record: a case
    # command's events are one transaction, the case's own event last) Luton had lost it.
    first_of = {
        receipt.event_id: min(
            e["recorded_at"]
            for e in ledger.history(LUTON, SCHEME)
            if e["fields"].get("case_event") == receipt.event_id
        )
        for receipt in (assigned, reassigned)
    }
    assert payable_all(ledger, as_of=just_before(first_of[reassigned.event_id])) == (
        after_assignment
    )
    assert payable_all(ledger, as_of=just_before(first_of[assigned.event_id])) == HCAI_SHARE

    # -- diff: the reassignment is the cause of the share coming back -------------
    diff = ledger.determinations.diff(
        LUTON, SCHEME, {"position": assigned.position}, {"position": reassigned.position}
    )
    assert diff["payable_change_pence"] == HCAI_SHARE[LUTON]
    changed = {(c["line"], c["key"], c["field"]): c for c in diff["changes"]}
    value = changed[("criterion", "hcai/mrsa-cases", "value")]
    assert (value["old"], value["new"]) == (1, 0)
    (cause,) = value["events"]
    assert cause["type"] == "hcai_case_attribution_ended"
    assert assigned.position < cause["position"] <= reassigned.position
    ended = next(e for e in ledger.history(LUTON, SCHEME) if e["id"] == cause["id"])
    assert ended["fields"]["now"] == f"trust:{TRUST}"
    assert ended["fields"]["case_event"] == reassigned.event_id
    assert ended["reason"] == "challenge upheld: line infection acquired in hospital"
    # Bedfordshire and Herts Valleys: nothing changed across the whole story
    for other in (BEDFORDSHIRE, HERTS_VALLEYS):
        across = ledger.determinations.diff(
            other, SCHEME, {"position": reported.position}, {"position": reassigned.position}
        )
        assert across["changes"] == [] and across["payable_change_pence"] == 0


def test_luton_appeals_naming_the_case_as_the_disputed_item(ledger: QPLedger) -> None:
    """Issue 14: the case's id is the disputed item of the appeal against the lost share."""
    ledger.execute(cmd("population_recorded", LUTON, population=POPULATIONS[LUTON], source="ONS"))
    ledger.execute(REPORTED)
    ledger.execute(ASSIGNED_TO_LUTON)
    desk = ledger.determinations
    issued = desk.issue(LUTON, SCHEME, actor="board#year-end", reason="year end")
    head = ledger.max_position()
    with pytest.raises(RuleViolation) as refused:
        desk.lodge_appeal(
            LUTON,
            SCHEME,
            issued["issue_id"],
            grounds="not our case",
            disputes=["case:MRSA-OTHER"],
            actor=f"ccg:{LUTON}#t",
        )
    assert refused.value.message == (
        f"disputes: case 'MRSA-OTHER' is not a case the issued decision {issued['issue_id']} "
        "counted or listed"
    )
    assert refused.value.allowed == [f"case:{CASE}"]
    assert ledger.max_position() == head
    appeal = desk.lodge_appeal(
        LUTON,
        SCHEME,
        issued["issue_id"],
        grounds="the line was inserted at the trust: hospital-onset",
        disputes=[f"case:{CASE}", "hcai"],
        actor=f"ccg:{LUTON}#t",
    )
    assert appeal["disputes"] == [f"case:{CASE}", "hcai"]
