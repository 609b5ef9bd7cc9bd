"""Read models follow HCAI case assignments (issue 14): the projectors see the attribution
events on the CCGs' records (the case's own stream is not one of their topics), and a
check against a fresh replay of the ledger finds no difference."""

from __future__ import annotations

from typing import Any

from tests.projections.projkit import Harness

SCHEME = "qp-2013-14-pir"


def cmd(kind: str, ccg: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


def assign(to: str) -> dict[str, Any]:
    return cmd(
        "hcai_case_assigned",
        "06P",
        case_id="MRSA-P1",
        assigned_to=to,
        assigned_by="PIR lead",
        pir_reference=f"PIR-{to}",
    )


def test_read_models_follow_a_case_across_ccgs(harness: Harness) -> None:
    commands = [
        cmd("population_recorded", c, population=100_000, source="ONS") for c in ("06P", "06F")
    ]
    commands += [
        cmd(
            "hcai_case_reported",
            "06P",
            case_id="MRSA-P1",
            organism="mrsa",
            specimen_date="2013-09-09",
            trust="RC9",
        ),
        assign("ccg:06P"),
        assign("ccg:06F"),
    ]
    harness.load(commands)
    harness.project()
    report = harness.check()
    assert report.clean, report.difference
    # the case moved from 06P to 06F: the read model's current decisions say so
    for ccg, count in (("06P", 0), ("06F", 1)):
        document, _ = harness.read.decision_document(ccg, SCHEME)
        assert document is not None
        hcai = next(c for c in document["components"] if c["measure"] == "hcai")
        assert hcai["criteria"][0]["value"] == count
