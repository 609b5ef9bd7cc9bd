"""An evidence bundle of a decision that counted an MRSA case verifies offline (issue 14).

The bundle carries only the CCG's own record; the case's attribution is on
that record (``hcai_case_attributed``), so the offline re-run of the engine
sees the case and matches the issued decision field by field — and a bundle
of the same CCG's decision after the reassignment matches too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.integrity.bundle import verify_bundle
from ledger.integrity.signing import load_signer
from ledger.service.application import QPLedger
from ledger.service.bundles import export_bundle

SCHEME = "qp-2013-14-pir"
CCG = "06P"


def cmd(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": CCG, "scheme": SCHEME, **fields}


def assign(to: str, reference: str) -> dict[str, Any]:
    return cmd(
        "hcai_case_assigned",
        case_id="MRSA-B1",
        assigned_to=to,
        assigned_by="PIR lead",
        pir_reference=reference,
    )


def test_bundles_before_and_after_a_reassignment_verify(database_url: str, tmp_path: Path) -> None:
    signer, _ = load_signer(tmp_path / "signing.key", "qp-ledger.test/cases")
    ledger = QPLedger(database_url)
    try:
        for command in [
            cmd("population_recorded", population=219_687, source="ONS"),
            cmd(
                "threshold_agreed", measure="hcai", criterion="cdiff-cases", baseline=40, target=35
            ),
            cmd(
                "measure_submitted",
                measure="hcai",
                criterion="cdiff-cases",
                period="2013-14",
                value=20,
            ),
            cmd(
                "hcai_case_reported",
                case_id="MRSA-B1",
                organism="mrsa",
                specimen_date="2013-06-30",
                trust="RC9",
            ),
            assign(f"ccg:{CCG}", "PIR-1"),
        ]:
            ledger.execute(command, actor="test:bundle")
        desk = ledger.determinations
        lost = desk.issue(CCG, SCHEME, actor="board#test", reason="year end")
        ledger.execute(assign("trust:RC9", "PIR-1A"), actor="test:bundle")
        back = desk.issue(CCG, SCHEME, actor="board#test", reason="after challenge")
        bundles = [
            json.loads(json.dumps(export_bundle(ledger, signer, CCG, SCHEME, issued["issue_id"])))
            for issued in (lost, back)
        ]
    finally:
        ledger.close()

    payable = []
    for bundle in bundles:
        report = verify_bundle(bundle, str(signer.verifier))
        assert report.ok, report.problems
        assert any("identical field by field" in f for f in report.facts)
        payable.append(bundle["decision"]["payable_pence"])
    # 500 p x 219,687 x 0.125, half up; nothing while the case was Luton's
    assert payable == [0, 13_730_438]
    lines = [
        next(c for c in b["decision"]["components"] if c["measure"] == "hcai")["criteria"][0]
        for b in bundles
    ]
    assert [e["type"] for e in lines[1]["events"]] == [
        "hcai_case_attributed",
        "hcai_case_attribution_ended",
    ]
    assert [line["value"] for line in lines] == [1, 0]
