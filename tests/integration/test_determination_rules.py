"""Every invalid transition of issued decisions and appeals: a clear error, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger.domain.determinations import DAY_US
from ledger.domain.errors import InvalidCommand, LedgerError, NotFound, RuleViolation, UnknownCCG
from ledger.service.application import QPLedger

S = "qp-2013-14"


def _setup(ledger: QPLedger) -> tuple[str, str]:
    for ccg in ("06F", "00C"):
        ledger.execute(
            {
                "type": "population_recorded",
                "ccg": ccg,
                "scheme": S,
                "population": 1000,
                "source": "test",
            },
            actor="board",
        )
    ledger.execute(
        {
            "type": "quality_failure_flagged",
            "ccg": "06F",
            "scheme": S,
            "flag_id": "F1",
            "description": "incident",
        },
        actor="board",
    )
    issued = ledger.determinations.issue("06F", S, actor="board")
    appeal = ledger.determinations.lodge_appeal(
        "06F", S, issued["issue_id"], grounds="wrong flag", actor="ccg:06F"
    )
    return issued["issue_id"], appeal["appeal_id"]


def refused(
    ledger: QPLedger, error: type[LedgerError], words: str, action: Callable[[], Any]
) -> None:
    before = ledger.max_position()
    with pytest.raises(error) as caught:
        action()
    assert words in caught.value.message
    assert ledger.max_position() == before, "a refused request stored something"


def test_determining_twice(ledger: QPLedger) -> None:
    _, appeal = _setup(ledger)
    desk = ledger.determinations
    desk.determine_appeal("06F", S, appeal, outcome="dismissed", determination="no", actor="board")
    refused(
        ledger,
        RuleViolation,
        "already determined",
        lambda: desk.determine_appeal(
            "06F", S, appeal, outcome="upheld", determination="yes", actor="board"
        ),
    )


def test_evidence_after_determination(ledger: QPLedger) -> None:
    _, appeal = _setup(ledger)
    desk = ledger.determinations
    desk.determine_appeal("06F", S, appeal, outcome="dismissed", determination="no", actor="board")
    refused(
        ledger,
        RuleViolation,
        "already determined",
        lambda: desk.add_evidence("06F", S, appeal, text="late", actor="ccg:06F"),
    )


def test_appeal_after_the_window(ledger: QPLedger) -> None:
    issue_id, appeal = _setup(ledger)
    desk = ledger.determinations
    desk.determine_appeal("06F", S, appeal, outcome="dismissed", determination="no", actor="board")
    real = ledger.store.clock
    ledger.store.clock = lambda: real() + 31 * DAY_US
    refused(
        ledger,
        RuleViolation,
        "appeal window of 30 days",
        lambda: desk.lodge_appeal("06F", S, issue_id, grounds="again", actor="ccg:06F"),
    )


def test_superseded_decision_after_the_window(ledger: QPLedger) -> None:
    issue_id, appeal = _setup(ledger)
    desk = ledger.determinations
    desk.determine_appeal("06F", S, appeal, outcome="dismissed", determination="no", actor="board")
    desk.issue("06F", S, actor="board", force=True)  # unchanged, re-issued for the record
    real = ledger.store.clock
    ledger.store.clock = lambda: real() + 45 * DAY_US
    refused(
        ledger,
        RuleViolation,
        "has been superseded",
        lambda: desk.lodge_appeal("06F", S, issue_id, grounds="again", actor="ccg:06F"),
    )


def test_a_ccg_cannot_appeal_another_ccgs_decision(ledger: QPLedger) -> None:
    issue_id, _ = _setup(ledger)
    refused(
        ledger,
        NotFound,
        "no decision",
        lambda: ledger.determinations.lodge_appeal(
            "00C", S, issue_id, grounds="not ours", actor="ccg:00C"
        ),
    )


def test_second_open_appeal_against_the_same_decision(ledger: QPLedger) -> None:
    issue_id, _ = _setup(ledger)
    refused(
        ledger,
        RuleViolation,
        "still open",
        lambda: ledger.determinations.lodge_appeal(
            "06F", S, issue_id, grounds="twice", actor="ccg:06F"
        ),
    )


def test_revision_needs_an_upheld_appeal(ledger: QPLedger) -> None:
    _, appeal = _setup(ledger)
    desk = ledger.determinations
    refused(
        ledger,
        RuleViolation,
        "only follow an upheld appeal",
        lambda: desk.issue("06F", S, actor="board", appeal_id=appeal),
    )
    desk.determine_appeal("06F", S, appeal, outcome="dismissed", determination="no", actor="board")
    refused(
        ledger,
        RuleViolation,
        "only follow an upheld appeal",
        lambda: desk.issue("06F", S, actor="board", appeal_id=appeal),
    )


def test_one_revision_per_appeal(ledger: QPLedger) -> None:
    _, appeal = _setup(ledger)
    desk = ledger.determinations
    desk.determine_appeal(
        "06F",
        S,
        appeal,
        outcome="upheld",
        determination="yes",
        remedy=[{"type": "quality_failure_rescinded", "ccg": "06F", "scheme": S, "flag_id": "F1"}],
        actor="board",
    )
    desk.issue("06F", S, actor="board", appeal_id=appeal)
    refused(
        ledger,
        RuleViolation,
        "already led to",
        lambda: desk.issue("06F", S, actor="board", appeal_id=appeal),
    )


@pytest.mark.parametrize(
    ("remedy", "error", "words"),
    [
        (
            [{"type": "quality_failure_rescinded", "ccg": "00C", "scheme": S, "flag_id": "F1"}],
            RuleViolation,
            "must concern 06F",
        ),
        (
            [{"type": "quality_failure_rescinded", "ccg": "06F", "scheme": S, "flag_id": "NOPE"}],
            RuleViolation,
            "not an active quality failure",
        ),
        ([{"type": "measure_submitted", "ccg": "06F", "scheme": S}], InvalidCommand, "required"),
    ],
)
def test_invalid_remedy_stores_neither_remedy_nor_determination(
    ledger: QPLedger, remedy: list[dict[str, Any]], error: type[LedgerError], words: str
) -> None:
    _, appeal = _setup(ledger)
    desk = ledger.determinations
    refused(
        ledger,
        error,
        words,
        lambda: desk.determine_appeal(
            "06F", S, appeal, outcome="upheld", determination="yes", remedy=remedy, actor="board"
        ),
    )
    assert desk.appeal("06F", S, appeal)["status"] == "lodged"


def test_a_dismissal_has_no_remedy(ledger: QPLedger) -> None:
    _, appeal = _setup(ledger)
    refused(
        ledger,
        RuleViolation,
        "no remedy",
        lambda: ledger.determinations.determine_appeal(
            "06F",
            S,
            appeal,
            outcome="dismissed",
            determination="no",
            remedy=[
                {"type": "quality_failure_rescinded", "ccg": "06F", "scheme": S, "flag_id": "F1"}
            ],
            actor="board",
        ),
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"outcome": "maybe", "determination": "x"}, "not dismissed or upheld"),
        ({"outcome": "upheld", "determination": " "}, "determination"),
    ],
)
def test_bad_determination_fields(ledger: QPLedger, kwargs: dict[str, Any], words: str) -> None:
    _, appeal = _setup(ledger)
    refused(
        ledger,
        InvalidCommand,
        words,
        lambda: ledger.determinations.determine_appeal("06F", S, appeal, actor="board", **kwargs),
    )


@pytest.mark.parametrize(
    ("attachment", "words"),
    [
        ({"name": "a.pdf", "sha256": "xyz", "size": 1, "media_type": "application/pdf"}, "sha256"),
        (
            {"name": "a.pdf", "sha256": "ab" * 32, "size": -1, "media_type": "application/pdf"},
            "size",
        ),
        ({"name": "a.pdf", "sha256": "ab" * 32, "size": 1, "media_type": "pdf"}, "media_type"),
        ({"name": "a.pdf", "sha256": "ab" * 32, "size": 1, "media_type": "a/b", "x": 1}, "object"),
    ],
)
def test_bad_attachments(ledger: QPLedger, attachment: dict[str, Any], words: str) -> None:
    _, appeal = _setup(ledger)
    refused(
        ledger,
        InvalidCommand,
        words,
        lambda: ledger.determinations.add_evidence(
            "06F", S, appeal, text="file", attachments=[attachment], actor="ccg:06F"
        ),
    )


def test_unknown_subjects(ledger: QPLedger) -> None:
    _setup(ledger)
    desk = ledger.determinations
    refused(ledger, UnknownCCG, "unknown CCG", lambda: desk.issue("ZZZ", S, actor="board"))
    refused(
        ledger,
        NotFound,
        "no appeal",
        lambda: desk.add_evidence("06F", S, "06F.qp-2013-14.appeal-9", text="x", actor="ccg:06F"),
    )
    refused(ledger, NotFound, "no decision", lambda: desk.reproduce("06F", S, "nope"))


def test_appeal_counts_agree_with_every_appeal_read_in_full(ledger: QPLedger) -> None:
    """The counts' one-query read gives what rebuilding each CCG's appeals gives."""
    desk = ledger.determinations
    empty = {"lodged": 0, "dismissed": 0, "upheld": 0}
    assert desk.appeal_counts(S) == empty
    _, first = _setup(ledger)  # 06F: one open appeal
    assert desk.appeal_counts(S) == {**empty, "lodged": 1}
    desk.determine_appeal("06F", S, first, outcome="dismissed", determination="no", actor="b")
    # 00C: an upheld appeal, then another lodged against the revision.
    issued = desk.issue("00C", S, actor="board")["issue_id"]
    lodged = desk.lodge_appeal("00C", S, issued, grounds="g", actor="ccg:00C")["appeal_id"]
    desk.add_evidence("00C", S, lodged, text="t", actor="ccg:00C")
    desk.determine_appeal("00C", S, lodged, outcome="upheld", determination="y", actor="b")
    revised = desk.issue("00C", S, actor="board", appeal_id=lodged)["issue_id"]
    desk.lodge_appeal("00C", S, revised, grounds="again", actor="ccg:00C")
    # Another scheme's appeal is not counted in this one.
    other = "qp-2014-15"
    ledger.execute(
        {
            "type": "population_recorded",
            "ccg": "06F",
            "scheme": other,
            "population": 10,
            "source": "t",
        },
        actor="board",
    )
    elsewhere = desk.issue("06F", other, actor="board")["issue_id"]
    desk.lodge_appeal("06F", other, elsewhere, grounds="g", actor="ccg:06F")
    in_full = [a["status"] for c in ("06F", "00C") for a in desk.appeals(c, S)]
    counts = desk.appeal_counts(S)
    assert counts == {s: in_full.count(s) for s in empty}
    assert counts == {"lodged": 1, "dismissed": 1, "upheld": 1}
    assert desk.appeal_counts(other) == {**empty, "lodged": 1}
    with pytest.raises(LedgerError, match="qp-1999-00"):
        desk.appeal_counts("qp-1999-00")
