"""Every invalid transition of issued decisions and appeals: a clear error, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger.domain.determinations import DAY_US
from ledger.domain.errors import InvalidCommand, LedgerError, NotFound, RuleViolation, UnknownCCG
from ledger.service.application import QPLedger
from ledger.service.determinations import Determinations

S = "qp-2013-14"
#: The remedy an upheld appeal against 06F's flag F1 asks for.
RESCIND_F1 = [{"type": "quality_failure_rescinded", "ccg": "06F", "scheme": S, "flag_id": "F1"}]


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


#: (desk, issue_id, appeal_id): a step taken after ``_setup``, or the refused request.
Step = Callable[[Determinations, str, str], Any]


def _as_set_up(desk: Determinations, issue_id: str, appeal: str) -> None:
    pass


def _dismissed(desk: Determinations, issue_id: str, appeal: str) -> None:
    desk.determine_appeal("06F", S, appeal, outcome="dismissed", determination="no", actor="board")


def _upheld_and_revised(desk: Determinations, issue_id: str, appeal: str) -> None:
    desk.determine_appeal(
        "06F",
        S,
        appeal,
        outcome="upheld",
        determination="yes",
        remedy=RESCIND_F1,
        actor="board",
    )
    desk.issue("06F", S, actor="board", appeal_id=appeal)


def _revise(desk: Determinations, issue_id: str, appeal: str) -> Any:
    return desk.issue("06F", S, actor="board", appeal_id=appeal)


def _uphold(desk: Determinations, issue_id: str, appeal: str) -> Any:
    return desk.determine_appeal(
        "06F", S, appeal, outcome="upheld", determination="yes", actor="board"
    )


def _add_evidence(desk: Determinations, issue_id: str, appeal: str) -> Any:
    return desk.add_evidence("06F", S, appeal, text="late", actor="ccg:06F")


def _lodge_as_00c(desk: Determinations, issue_id: str, appeal: str) -> Any:
    return desk.lodge_appeal("00C", S, issue_id, grounds="not ours", actor="ccg:00C")


def _lodge_again(desk: Determinations, issue_id: str, appeal: str) -> Any:
    return desk.lodge_appeal("06F", S, issue_id, grounds="twice", actor="ccg:06F")


def _dismiss_with_remedy(desk: Determinations, issue_id: str, appeal: str) -> Any:
    return desk.determine_appeal(
        "06F", S, appeal, outcome="dismissed", determination="no", remedy=RESCIND_F1, actor="board"
    )


#: What is refused after which steps: (before, error, words in its message, the request).
REFUSED = {
    "determining-twice": (_dismissed, RuleViolation, "already determined", _uphold),
    "late-evidence": (_dismissed, RuleViolation, "already determined", _add_evidence),
    "another-ccgs-decision": (_as_set_up, NotFound, "no decision", _lodge_as_00c),
    "second-open-appeal": (_as_set_up, RuleViolation, "still open", _lodge_again),
    "revising-open": (_as_set_up, RuleViolation, "only follow an upheld appeal", _revise),
    "revising-dismissed": (_dismissed, RuleViolation, "only follow an upheld appeal", _revise),
    "second-revision": (_upheld_and_revised, RuleViolation, "already led to", _revise),
    "dismissal-with-a-remedy": (_as_set_up, RuleViolation, "no remedy", _dismiss_with_remedy),
}


@pytest.mark.parametrize(("before", "error", "words", "action"), REFUSED.values(), ids=REFUSED)
def test_refused_transition(
    ledger: QPLedger, before: Step, error: type[LedgerError], words: str, action: Step
) -> None:
    issue_id, appeal = _setup(ledger)
    desk = ledger.determinations
    before(desk, issue_id, appeal)
    refused(ledger, error, words, lambda: action(desk, issue_id, appeal))


@pytest.mark.parametrize(
    ("reissued", "days", "words"),
    [
        pytest.param(False, 31, "appeal window of 30 days", id="appeal-after-the-window"),
        # unchanged, re-issued for the record: the first issue is superseded
        pytest.param(True, 45, "has been superseded", id="superseded-decision-after-the-window"),
    ],
)
def test_late_appeal(ledger: QPLedger, reissued: bool, days: int, words: str) -> None:
    issue_id, appeal = _setup(ledger)
    desk = ledger.determinations
    _dismissed(desk, issue_id, appeal)
    if reissued:
        desk.issue("06F", S, actor="board", force=True)
    real = ledger.store.clock
    ledger.store.clock = lambda: real() + days * DAY_US
    refused(
        ledger,
        RuleViolation,
        words,
        lambda: desk.lodge_appeal("06F", S, issue_id, grounds="again", actor="ccg:06F"),
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


def _attached(attachment: dict[str, Any]) -> dict[str, Any]:
    return {"text": "file", "attachments": [attachment], "actor": "ccg:06F"}


@pytest.mark.parametrize(
    ("method", "kwargs", "words"),
    [
        (
            "determine_appeal",
            {"outcome": "maybe", "determination": "x", "actor": "board"},
            "not dismissed or upheld",
        ),
        (
            "determine_appeal",
            {"outcome": "upheld", "determination": " ", "actor": "board"},
            "determination",
        ),
        (
            "add_evidence",
            _attached(
                {"name": "a.pdf", "sha256": "xyz", "size": 1, "media_type": "application/pdf"}
            ),
            "sha256",
        ),
        (
            "add_evidence",
            _attached(
                {"name": "a.pdf", "sha256": "ab" * 32, "size": -1, "media_type": "application/pdf"}
            ),
            "size",
        ),
        (
            "add_evidence",
            _attached({"name": "a.pdf", "sha256": "ab" * 32, "size": 1, "media_type": "pdf"}),
            "media_type",
        ),
        (
            "add_evidence",
            _attached(
                {"name": "a.pdf", "sha256": "ab" * 32, "size": 1, "media_type": "a/b", "x": 1}
            ),
            "object",
        ),
    ],
)
def test_bad_fields(ledger: QPLedger, method: str, kwargs: dict[str, Any], words: str) -> None:
    """A bad determination or attachment is refused before anything is stored."""
    _, appeal = _setup(ledger)
    request = getattr(ledger.determinations, method)
    refused(ledger, InvalidCommand, words, lambda: request("06F", S, appeal, **kwargs))


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
