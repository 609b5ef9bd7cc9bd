"""The demo's MRSA case story (issue 14): ``qp-ledger demo --with-cases``.

Loaded after the whole demo year, it moves none of the year's positions; its
reassignment after challenge changes Luton's payable amount, and a replay at
the position before the challenge shows the loss.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from click.testing import CliRunner

from ledger.cli.main import main
from ledger.demo.cases import REASSIGNED_CASE, SCHEME, demo_case_commands
from ledger.demo.year import demo_commands
from ledger.service.application import QPLedger


def half_up(amount: Fraction) -> int:
    return int(amount + Fraction(1, 2))


def hcai_worth(document: dict[str, Any]) -> int:
    """What the HCAI share adds to the payable amount, by docs/contract.md's formula."""
    m = Fraction(document["maximum_pence"])
    s, f = Fraction(document["met_share"]), Fraction(document["deduction_factor"])
    return half_up(m * s * f) - half_up(m * (s - Fraction(1, 8)) * f)


def test_the_story_is_deterministic_and_only_in_the_scheme_that_counts_cases() -> None:
    story = demo_case_commands()
    assert story == demo_case_commands()
    assert {c["scheme"] for c in story} == {SCHEME}
    assert not [c for c in story if c.get("criterion") == "mrsa-cases"]
    cases = [c for c in story if c["type"].startswith("hcai_case_")]
    assert [c["type"] for c in cases].count("hcai_case_reported") == 4
    assigned = [c for c in cases if c.get("case_id") == REASSIGNED_CASE]
    assert [c.get("assigned_to") for c in assigned] == [None, "ccg:06P", "trust:RC9"]


def test_demo_with_cases_appends_the_story_and_luton_gets_its_share_back(
    database_url: str,
) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--ccgs", "2", "--with-cases", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    year = demo_commands(limit=2)
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["stored"] == len(year) + len(demo_case_commands())
    assert summary["rejected"] == 0
    ledger = QPLedger(database_url)
    try:
        luton = [e for e in ledger.history("06P", SCHEME) if e["type"].startswith("hcai_case_")]
        assert [e["type"] for e in luton] == [
            "hcai_case_attributed",
            "hcai_case_attribution_ended",
        ]
        attributed, ended = (e["position"] for e in luton)
        lost = ledger.decision("06P", SCHEME, position=ended - 1).payable_pence
        now = ledger.decision("06P", SCHEME).document
        back = now["payable_pence"]
        assert back - lost == hcai_worth(now) > 0
        before = ledger.decision("06P", SCHEME, position=attributed - 1).payable_pence
        assert before == back
        # Herts Valleys' case stays assigned to it; Bedfordshire's went to the trust
        for ccg, count in (("06N", 1), ("06F", 0), ("06P", 0)):
            document = ledger.decision(ccg, SCHEME).document
            hcai = next(c for c in document["components"] if c["measure"] == "hcai")
            assert hcai["criteria"][0]["value"] == count
        diff = ledger.determinations.diff(
            "06P", SCHEME, {"position": ended - 1}, {"position": ended}
        )
        assert diff["payable_change_pence"] == back - lost
        (cause,) = {e["type"] for c in diff["changes"] for e in c["events"]}
        assert cause == "hcai_case_attribution_ended"
    finally:
        ledger.close()
