"""Issue, reproduce and appeal through ``QPLedger.determinations`` on the in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain.errors import DecisionUnchanged, NothingRecorded, RuleViolation
from ledger.service.application import QPLedger

from .kit import SCHEME, assign, flag, population

S = SCHEME


def issued(ledger: QPLedger) -> str:
    ledger.execute(population())
    ledger.execute(flag())
    return str(ledger.determinations.issue("06F", S, actor="board")["issue_id"])


def test_an_issue_is_reproduced_identically(ledger: QPLedger) -> None:
    issue_id = issued(ledger)
    assert issue_id == "06F.qp-2013-14.1"
    decision = ledger.determinations.issued_decision("06F", S, issue_id)
    assert decision["position"] == 3 and decision["issued_by"] == "board"
    # The issue is in the log too (the desk's opening and the issue: positions 4, 5).
    assert decision["document"] == ledger.decision("06F", S, position=3).document
    assert ledger.max_position() == 5
    assert ledger.determinations.reproduce("06F", S, issue_id)["result"] == "identical"


def test_issuing_nothing_or_the_same_again_is_refused(ledger: QPLedger) -> None:
    with pytest.raises(NothingRecorded):
        ledger.determinations.issue("06F", S, actor="board")
    issued(ledger)
    with pytest.raises(DecisionUnchanged):
        ledger.determinations.issue("06F", S, actor="board")
    again = ledger.determinations.issue("06F", S, actor="board", force=True)
    assert again["replaces"] == "06F.qp-2013-14.1"


def test_a_keyed_issue_is_made_once(ledger: QPLedger) -> None:
    ledger.execute(population())
    first = ledger.determinations.issue("06F", S, actor="board", idempotency_key="i")
    again = ledger.determinations.issue("06F", S, actor="board", idempotency_key="i")
    assert again == first
    assert len(ledger.determinations.issued("06F", S)) == 1


def test_an_upheld_appeal_records_its_remedy(ledger: QPLedger) -> None:
    desk = ledger.determinations
    issue_id = issued(ledger)
    appeal = desk.lodge_appeal("06F", S, issue_id, grounds="wrong flag", actor="ccg:06F")
    appeal_id = appeal["appeal_id"]
    desk.add_evidence("06F", S, appeal_id, text="CQC letter", actor="ccg:06F")
    assert desk.appeal_counts(S) == {"lodged": 1, "dismissed": 0, "upheld": 0}
    remedy = [{"type": "quality_failure_rescinded", "ccg": "06F", "scheme": S, "flag_id": "F1"}]

    def uphold() -> dict[str, Any]:
        return desk.determine_appeal(
            "06F",
            S,
            appeal_id,
            outcome="upheld",
            determination="the flag was raised in error",
            remedy=remedy,
            actor="board",
            idempotency_key="d",
        )

    upheld = uphold()
    assert upheld["status"] == "upheld"
    assert [r["type"] for r in upheld["remedy"]] == ["quality_failure_rescinded"]
    rescinded = ledger.history("06F", S)[-1]
    assert rescinded["reason"] == f"appeal {appeal_id} upheld"
    assert upheld["remedy"][0]["position"] == rescinded["position"]
    # A retry of the same determination is a replay, not a second remedy.
    again = uphold()
    assert again == upheld
    assert desk.appeal_counts(S) == {"lodged": 0, "dismissed": 0, "upheld": 1}
    with pytest.raises(RuleViolation, match="already determined"):
        desk.add_evidence("06F", S, appeal_id, text="late", actor="ccg:06F")
    revision = desk.issue("06F", S, actor="board", appeal_id=appeal_id)
    assert revision["replaces"] == issue_id
    assert [i["issue_id"] for i in desk.chain("06F", S)["issued"]] == [
        issue_id,
        revision["issue_id"],
    ]


def test_a_case_command_cannot_be_an_appeal_remedy(ledger: QPLedger) -> None:
    desk = ledger.determinations
    issue_id = issued(ledger)
    appeal_id = desk.lodge_appeal("06F", S, issue_id, grounds="a case", actor="ccg:06F")[
        "appeal_id"
    ]
    before = ledger.max_position()
    remedy = [assign("C1", to="ccg:06F", ccg="06F")]
    with pytest.raises(RuleViolation, match=r"remedy\[0\]: hcai_case_assigned changes an HCAI"):
        desk.determine_appeal(
            "06F", S, appeal_id, outcome="upheld", determination="wrong case",
            remedy=remedy, actor="board",
        )  # fmt: skip
    assert ledger.max_position() == before
    assert desk.appeal("06F", S, appeal_id)["status"] == "lodged"
