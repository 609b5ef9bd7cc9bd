"""Issued decisions and appeals over HTTP (issue 6), on SQLite and PostgreSQL.

The appeal story end to end, every invalid transition's problem document (and
that nothing was stored), and what each role sees. The role x endpoint pairs
themselves are in test_roles.py's MATRIX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.determinations import DAY_US
from ledger.engine.decide import round_half_up
from ledger.service.application import QPLedger
from tests.api.apikit import CCG, OTHER_CCG, RECORD, SCHEME, body
from tests.ledgerkit import AppealYear

POPULATION = AppealYear.POPULATION
MAXIMUM = 500 * POPULATION
OTHER_RECORD = f"/ccgs/{OTHER_CCG}/schemes/{SCHEME}"
PDF = {"name": "rca.pdf", "sha256": "ab" * 32, "size": 1024, "media_type": "application/pdf"}


def post(client: Any, headers: Any, who: str, path: str, payload: dict[str, Any]) -> Any:
    return client.post(path, json=payload, headers=headers(who))


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.get_data(as_text=True)
    document: dict[str, Any] = body(response)
    return document


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    document: dict[str, Any] = body(response)
    return document


def a_year_over_http(client: Any, headers: Any) -> None:
    """NHS Bedfordshire's 2013/14, each fact sent by the role that owns it."""
    post(
        client,
        headers,
        "board",
        f"{RECORD}/population",
        {"population": POPULATION, "source": "ONS"},
    )
    measures = [
        {"slot": s, "name": n, "criterion": c, "direction": d} for s, n, c, d in AppealYear.LOCALS
    ]
    created(post(client, headers, "ccg", f"{RECORD}/local-measures", {"measures": measures}))
    for (measure, criterion), (baseline, target) in AppealYear.THRESHOLDS.items():
        threshold = {"measure": measure, "criterion": criterion, "baseline": baseline}
        created(
            post(
                client,
                headers,
                "area-team",
                f"{RECORD}/thresholds",
                {**threshold, "target": target},
            )
        )
    for (measure, criterion), value in AppealYear.VALUES.items():
        submitted = {"measure": measure, "criterion": criterion, "period": "2013-14"}
        created(
            post(client, headers, "ccg", f"{RECORD}/measure-values", {**submitted, "value": value})
        )
    for standard, value in AppealYear.STANDARDS.items():
        result = {"standard": standard, "period": "2013-14", "value": value}
        created(post(client, headers, "board", f"{RECORD}/constitution-results", result))
    created(post(client, headers, "board", f"{RECORD}/quality-failures", AppealYear.FLAG))
    declared = {"outturn": "balanced", "amount_pence": 0}
    created(post(client, headers, "ccg", f"{RECORD}/financial-position", declared))


def test_the_appeal_story_over_http(client, headers, ledger: QPLedger) -> None:
    a_year_over_http(client, headers)

    # The Board issues the decision: the flag closes the quality gate, nothing is payable.
    r = post(client, headers, "board", f"{RECORD}/issued-decisions", {"reason": "year end"})
    first = created(r)
    assert r.headers["Location"] == f"{RECORD}/issued-decisions/{first['issue_id']}"
    assert (first["payable_pence"], first["status"], first["replaces"]) == (0, "final", None)
    assert first["issued_by"].startswith("board#")
    # The issued document is the decision document at its position, exactly.
    at_issue = ok(
        client.get(f"{RECORD}/decision?position={first['position']}", headers=headers("ccg"))
    )
    assert first["document"] == at_issue
    assert ok(client.get(r.headers["Location"], headers=headers("ccg"))) == first

    # A late correction: admissions 1160 (target 1150, not met) corrected to 1140 (met).
    correction = created(
        post(
            client,
            headers,
            "ccg",
            f"{RECORD}/measure-values",
            {
                "measure": "avoidable-emergency-admissions",
                "criterion": "admissions-rate",
                "period": "2013-14",
                "value": 1140,
                "reason": "late coding correction",
            },
        )
    )
    # The diff from the issued decision to now explains the change event by event.
    explained = ok(
        client.get(
            f"{RECORD}/decision-diff?from_issue_id={first['issue_id']}", headers=headers("ccg")
        )
    )
    changed = {(c["line"], c["key"], c["field"]): c for c in explained["changes"]}
    value = changed[("criterion", "avoidable-emergency-admissions/admissions-rate", "value")]
    assert (value["old"], value["new"]) == (1160, 1140)
    assert [e["position"] for e in value["events"]] == [correction["position"]]
    assert [e["id"] for e in value["events"]] == [correction["event_id"]]
    assert changed[("component", "avoidable-emergency-admissions", "met")]["new"] is True
    assert explained["payable_change_pence"] == 0  # still behind the closed gate
    assert explained["from"]["position"] == first["position"]
    # The same diff between two log positions.
    by_position = ok(
        client.get(
            f"{RECORD}/decision-diff?from_position={first['position']}"
            f"&to_position={correction['position']}",
            headers=headers("auditor"),
        )
    )
    assert by_position["changes"] == explained["changes"]

    # The CCG appeals the flag and adds evidence.
    r = post(
        client,
        headers,
        "ccg",
        f"{RECORD}/appeals",
        {
            "issue_id": first["issue_id"],
            "grounds": "The incident was not a serious quality failure of the CCG",
            "disputes": ["quality-failure"],
        },
    )
    appeal = created(r)
    appeal_id = appeal["appeal_id"]
    assert r.headers["Location"] == f"{RECORD}/appeals/{appeal_id}"
    assert (appeal["status"], appeal["issue_id"]) == ("lodged", first["issue_id"])
    assert appeal["actor"].startswith(f"ccg:{CCG}#")
    evidenced = created(
        post(
            client,
            headers,
            "ccg",
            f"{RECORD}/appeals/{appeal_id}/evidence",
            {"text": "Provider RCA report", "attachments": [PDF]},
        )
    )
    assert evidenced["evidence"][0]["attachments"] == [PDF]

    # The Board upholds it, with the flag rescinded as the remedy.
    upheld = created(
        post(
            client,
            headers,
            "board",
            f"{RECORD}/appeals/{appeal_id}/determination",
            {
                "outcome": "upheld",
                "determination": "Flag raised in error",
                "remedy": [{"type": "quality_failure_rescinded", "flag_id": "QF-2013-07"}],
            },
        )
    )
    assert upheld["status"] == "upheld"
    (remedy,) = upheld["remedy"]
    assert remedy["type"] == "quality_failure_rescinded"
    rescinded = ledger.history(CCG, SCHEME)[-1]
    assert rescinded["position"] == remedy["position"]
    assert rescinded["actor"].startswith("board#")
    assert rescinded["reason"] == f"appeal {appeal_id} upheld"

    # The revised decision names the appeal and replaces the first.
    revised = created(
        post(client, headers, "board", f"{RECORD}/issued-decisions", {"appeal_id": appeal_id})
    )
    assert (revised["replaces"], revised["appeal_id"]) == (first["issue_id"], appeal_id)
    # All seven measures met; A&E 0.94 < 0.95 takes 25% off.
    assert revised["payable_pence"] == round_half_up(MAXIMUM * Decimal("0.75"))

    # The first decision still reproduces exactly at its own position; so does the revision.
    for issued in (first, revised):
        path = f"{RECORD}/issued-decisions/{issued['issue_id']}/reproduction"
        again = ok(client.get(path, headers=headers("auditor")))
        assert (again["result"], again["differences"]) == ("identical", [])

    # The auditor lists the whole chain.
    chain = ok(client.get(f"{RECORD}/determinations", headers=headers("auditor")))
    assert [i["issue_id"] for i in chain["issued"]] == [first["issue_id"], revised["issue_id"]]
    assert chain["issued"][0]["superseded_by"] == revised["issue_id"]
    assert chain["appeals"][0]["revised_by"] == revised["issue_id"]
    assert chain["appeals"][0]["evidence"][0]["attachments"][0]["size"] == 1024
    listed = ok(client.get(f"{RECORD}/appeals", headers=headers("ccg")))
    assert listed["appeals"] == chain["appeals"]
    # Reporters see how many appeals there are, and nothing else.
    counts = ok(client.get(f"/schemes/{SCHEME}/appeal-counts", headers=headers("reporter")))
    assert counts == {
        "scheme": SCHEME,
        "total": 1,
        "by_status": {"lodged": 0, "dismissed": 0, "upheld": 1},
    }
    assert client.get(f"{RECORD}/determinations", headers=headers("reporter")).status_code == 403


# -- invalid transitions: each a problem document, and nothing stored ----------


def _arrange(ledger: QPLedger) -> tuple[str, str]:
    """06F and 00C with populations, a flag on 06F, an issued decision and an open appeal."""
    for ccg in (CCG, OTHER_CCG):
        ledger.execute(
            {
                "type": "population_recorded",
                "ccg": ccg,
                "scheme": SCHEME,
                "population": 1000,
                "source": "test",
            },
            actor="board#setup",
        )
    ledger.execute(
        {
            "type": "quality_failure_flagged",
            "ccg": CCG,
            "scheme": SCHEME,
            "flag_id": "F1",
            "description": "incident",
        },
        actor="board#setup",
    )
    desk = ledger.determinations
    issue_id = desk.issue(CCG, SCHEME, actor="board#setup")["issue_id"]
    appeal = desk.lodge_appeal(CCG, SCHEME, issue_id, grounds="wrong flag", actor="ccg:06F#setup")
    return issue_id, appeal["appeal_id"]


def _dismiss(ledger: QPLedger, issue_id: str, appeal_id: str) -> None:
    ledger.determinations.determine_appeal(
        CCG, SCHEME, appeal_id, outcome="dismissed", determination="no", actor="board#setup"
    )


def _uphold_and_revise(ledger: QPLedger, issue_id: str, appeal_id: str) -> None:
    desk = ledger.determinations
    rescind = {"type": "quality_failure_rescinded", "ccg": CCG, "scheme": SCHEME, "flag_id": "F1"}
    desk.determine_appeal(
        CCG,
        SCHEME,
        appeal_id,
        outcome="upheld",
        determination="yes",
        remedy=[rescind],
        actor="board#setup",
    )
    desk.issue(CCG, SCHEME, actor="board#setup", appeal_id=appeal_id)


def _later(days: int) -> Callable[[QPLedger, str, str], None]:
    def arrange(ledger: QPLedger, issue_id: str, appeal_id: str) -> None:
        _dismiss(ledger, issue_id, appeal_id)
        if days > 30:
            # Nothing changed since the first issue: the Board re-issues it anyway.
            ledger.determinations.issue(CCG, SCHEME, actor="board#setup", force=True)
        real = ledger.store.clock
        ledger.store.clock = lambda: real() + days * DAY_US

    return arrange


@dataclass
class Refusal:
    """A request the ledger or the API must refuse, and the problem it must answer with."""

    who: str
    path: str  # {issue} and {appeal} are filled in
    payload: dict[str, Any] | None
    status: int
    code: str
    words: str
    arrange: Callable[[QPLedger, str, str], None] | None = None
    error_field: str | None = field(default=None)


def _fill(value: Any, issue_id: str, appeal_id: str) -> Any:
    if isinstance(value, str):
        return value.replace("{issue}", issue_id).replace("{appeal}", appeal_id)
    if isinstance(value, list):
        return [_fill(v, issue_id, appeal_id) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, issue_id, appeal_id) for k, v in value.items()}
    return value


APPEAL = f"{RECORD}/appeals/{{appeal}}"
DISMISS = {"outcome": "dismissed", "determination": "no"}
RESCIND_F1 = {"type": "quality_failure_rescinded", "flag_id": "F1"}

REFUSALS = {
    "determining twice": Refusal(
        "board",
        f"{APPEAL}/determination",
        {"outcome": "upheld", "determination": "yes"},
        422,
        "rule-violation",
        "was already determined (dismissed)",
        _dismiss,
        "appeal_id",
    ),
    "evidence after the determination": Refusal(
        "ccg",
        f"{APPEAL}/evidence",
        {"text": "late"},
        422,
        "rule-violation",
        "was already determined",
        _dismiss,
    ),
    "appealing after the window": Refusal(
        "ccg",
        f"{RECORD}/appeals",
        {"issue_id": "{issue}", "grounds": "again"},
        422,
        "rule-violation",
        "appeal window of 30 days",
        _later(31),
        "issue_id",
    ),
    "appealing a superseded decision after its window": Refusal(
        "ccg",
        f"{RECORD}/appeals",
        {"issue_id": "{issue}", "grounds": "again"},
        422,
        "rule-violation",
        "has been superseded",
        _later(45),
    ),
    "a second open appeal against one decision": Refusal(
        "ccg",
        f"{RECORD}/appeals",
        {"issue_id": "{issue}", "grounds": "twice"},
        422,
        "rule-violation",
        "still open",
    ),
    "a CCG appealing another CCG's decision (its path)": Refusal(
        "ccg-other",
        f"{RECORD}/appeals",
        {"issue_id": "{issue}", "grounds": "not ours"},
        403,
        "forbidden",
        f"not for CCG {CCG}",
    ),
    "a CCG appealing another CCG's decision (its own path)": Refusal(
        "ccg-other",
        f"{OTHER_RECORD}/appeals",
        {"issue_id": "{issue}", "grounds": "not ours"},
        404,
        "not-found",
        "no decision '06F.qp-2013-14.1' was issued to 00C",
        None,
        "issue_id",
    ),
    "a revision without an upheld appeal": Refusal(
        "board",
        f"{RECORD}/issued-decisions",
        {"appeal_id": "{appeal}"},
        422,
        "rule-violation",
        "can only follow an upheld appeal",
    ),
    "a second revision for one appeal": Refusal(
        "board",
        f"{RECORD}/issued-decisions",
        {"appeal_id": "{appeal}"},
        422,
        "rule-violation",
        "already led to",
        _uphold_and_revise,
    ),
    "a remedy for another CCG": Refusal(
        "board",
        f"{APPEAL}/determination",
        {"outcome": "upheld", "determination": "y", "remedy": [{**RESCIND_F1, "ccg": OTHER_CCG}]},
        422,
        "rule-violation",
        "must concern 06F",
        None,
        "remedy[0]",
    ),
    "a remedy the ledger refuses": Refusal(
        "board",
        f"{APPEAL}/determination",
        {"outcome": "upheld", "determination": "y", "remedy": [{**RESCIND_F1, "flag_id": "NO"}]},
        422,
        "rule-violation",
        "remedy[0]: ",
        None,
        "remedy[0]",
    ),
    "a remedy that is not a valid command": Refusal(
        "board",
        f"{APPEAL}/determination",
        {"outcome": "upheld", "determination": "y", "remedy": [{"type": "measure_submitted"}]},
        422,
        "invalid-command",
        "required",
    ),
    "a dismissal with a remedy": Refusal(
        "board",
        f"{APPEAL}/determination",
        {**DISMISS, "remedy": [RESCIND_F1]},
        422,
        "rule-violation",
        "a dismissed appeal has no remedy",
    ),
    "an outcome that is neither": Refusal(
        "board",
        f"{APPEAL}/determination",
        {"outcome": "maybe", "determination": "x"},
        422,
        "invalid-command",
        "not dismissed or upheld",
        None,
        "outcome",
    ),
    "a blank determination": Refusal(
        "board",
        f"{APPEAL}/determination",
        {"outcome": "dismissed", "determination": " "},
        422,
        "invalid-command",
        "determination",
    ),
    "an attachment without a SHA-256": Refusal(
        "ccg",
        f"{APPEAL}/evidence",
        {"text": "file", "attachments": [{**PDF, "sha256": "xyz"}]},
        422,
        "invalid-command",
        "64 lower-case hex digits",
        None,
        "attachments[0].sha256",
    ),
    "an actor in the body": Refusal(
        "ccg",
        f"{RECORD}/appeals",
        {"issue_id": "{issue}", "grounds": "g", "actor": "board"},
        422,
        "validation-error",
        "actor",
        None,
        "actor",
    ),
    "an actor in a remedy command": Refusal(
        "board",
        f"{APPEAL}/determination",
        {**DISMISS, "outcome": "upheld", "remedy": [{**RESCIND_F1, "actor": "ccg:06F"}]},
        422,
        "validation-error",
        "remedy[0].actor",
        None,
        "remedy[0].actor",
    ),
    "an unknown field": Refusal(
        "ccg",
        f"{APPEAL}/evidence",
        {"text": "t", "files": []},
        422,
        "validation-error",
        "files",
        None,
        "files",
    ),
    "evidence for an unknown appeal": Refusal(
        "ccg",
        f"{RECORD}/appeals/06F.qp-2013-14.appeal-9/evidence",
        {"text": "x"},
        404,
        "not-found",
        "no appeal",
    ),
    "determining an unknown appeal": Refusal(
        "board",
        f"{RECORD}/appeals/nope/determination",
        DISMISS,
        404,
        "not-found",
        "no appeal 'nope'",
    ),
    "revising for an unknown appeal": Refusal(
        "board",
        f"{RECORD}/issued-decisions",
        {"appeal_id": "nope"},
        404,
        "not-found",
        "no appeal 'nope'",
    ),
    "reproducing an unknown issue": Refusal(
        "auditor",
        f"{RECORD}/issued-decisions/nope/reproduction",
        None,
        404,
        "not-found",
        "no decision 'nope'",
    ),
    "an issue of a CCG with none issued": Refusal(
        "board",
        f"{OTHER_RECORD}/issued-decisions/{{issue}}",
        None,
        404,
        "not-found",
        "no decision has been issued to 00C",
    ),
    "an appeal of a CCG with none": Refusal(
        "board", f"{OTHER_RECORD}/appeals/x", None, 404, "not-found", "00C has no appeals"
    ),
    "a diff without a start": Refusal(
        "ccg",
        f"{RECORD}/decision-diff?to_position=1",
        None,
        422,
        "validation-error",
        "give exactly one of from_issue_id",
        None,
        "from_issue_id",
    ),
    "a diff from two points": Refusal(
        "ccg",
        f"{RECORD}/decision-diff?from_position=1&from_issue_id={{issue}}",
        None,
        422,
        "validation-error",
        "exactly one",
    ),
    "a diff to a position beyond the log": Refusal(
        "ccg",
        f"{RECORD}/decision-diff?from_issue_id={{issue}}&to_position=999",
        None,
        422,
        "invalid-command",
        "beyond the end of the log",
        None,
        "position",
    ),
    "an unknown engine": Refusal(
        "auditor",
        f"{RECORD}/issued-decisions/{{issue}}/reproduction?engine_version=qp-engine/0",
        None,
        422,
        "unknown-engine",
        "qp-engine/0",
    ),
    "issuing for every CCG of an unknown scheme": Refusal(
        "board", "/schemes/qp-1999-00/issued-decisions", {}, 404, "unknown-scheme", "qp-1999-00"
    ),
    "counting the appeals of an unknown scheme": Refusal(
        "reporter", "/schemes/qp-1999-00/appeal-counts", None, 404, "unknown-scheme", "qp-1999-00"
    ),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refusal_is_a_problem_and_stores_nothing(
    client, headers, ledger: QPLedger, case: Refusal
) -> None:
    issue_id, appeal_id = _arrange(ledger)
    if case.arrange is not None:
        case.arrange(ledger, issue_id, appeal_id)
    chain = ledger.determinations.chain(CCG, SCHEME)
    before = ledger.max_position()
    path = _fill(case.path, issue_id, appeal_id)
    if case.payload is None:
        r = client.get(path, headers=headers(case.who))
    else:
        r = post(client, headers, case.who, path, _fill(case.payload, issue_id, appeal_id))
    problem = body(r)
    assert (r.status_code, r.mimetype) == (case.status, "application/problem+json"), problem
    assert problem["status"] == case.status
    assert problem["type"] == f"urn:qp-ledger:problem:{case.code}"
    assert case.words in problem["detail"] + " ".join(
        e["message"] for e in problem.get("errors", [])
    )
    if case.error_field is not None:
        assert case.error_field in [e.get("field") for e in problem["errors"]]
    assert ledger.max_position() == before, "a refused request stored something"
    assert ledger.determinations.chain(CCG, SCHEME) == chain


def test_writes_take_json_only(client, headers, ledger: QPLedger) -> None:
    issue_id, _ = _arrange(ledger)
    before = ledger.max_position()
    r = client.post(
        f"{RECORD}/appeals",
        data=f"issue_id={issue_id}&grounds=g",
        content_type="application/x-www-form-urlencoded",
        headers=headers("ccg"),
    )
    assert (r.status_code, r.mimetype) == (415, "application/problem+json")
    assert ledger.max_position() == before


def test_issuing_for_every_ccg(sqlite_app) -> None:
    """One Board command issues every CCG that is due and lists the ones it skipped.

    Skipped: a CCG with no events, and one unchanged since its latest issue.
    With ``force`` all 211 are issued, and a CCG issued before gets a replacing issue.
    """
    from tests.api.apikit import headers_factory

    client, headers = sqlite_app.test_client(), headers_factory(sqlite_app)
    ledger = sqlite_app.extensions["qp_ledger"]
    for ccg in (CCG, OTHER_CCG):
        ledger.execute(
            {"type": "population_recorded", "ccg": ccg, "scheme": SCHEME, "population": 1000}
            | {"source": "test"},
            actor="board#setup",
        )
    first = created(post(client, headers, "board", f"{RECORD}/issued-decisions", {}))
    path = f"/schemes/{SCHEME}/issued-decisions"
    due = created(post(client, headers, "board", path, {"reason": "Q4"}))
    assert due["count"] == len(due["issued"]) == 1
    assert [(i["ccg"], i["replaces"]) for i in due["issued"]] == [(OTHER_CCG, None)]
    skipped = {s["ccg"]: s for s in due["skipped"]}
    assert len(skipped) == 210
    assert skipped[CCG]["code"] == "decision-unchanged"
    assert f"has not changed since {first['issue_id']}" in skipped[CCG]["reason"]
    assert skipped["00D"]["code"] == "nothing-recorded"
    assert "nothing has been recorded yet for 00D" in skipped["00D"]["reason"]

    everyone = created(post(client, headers, "board", path, {"reason": "Q4", "force": True}))
    assert everyone["count"] == len(everyone["issued"]) == 211 and everyone["skipped"] == []
    (ours,) = [i for i in everyone["issued"] if i["ccg"] == CCG]
    assert ours["replaces"] == first["issue_id"]
    assert sum(1 for i in everyone["issued"] if i["replaces"] is None) == 209


# -- Idempotency-Key on issue and appeal writes --------------------------------


def _keyed(client, headers, who: str, path: str, payload: dict[str, Any], key: str) -> Any:
    return client.post(path, json=payload, headers={**headers(who), "Idempotency-Key": key})


def _retried(client, headers, who: str, path: str, payload: dict[str, Any], key: str, ledger):
    """Send a keyed write twice: the retry answers the same and stores nothing."""
    first = _keyed(client, headers, who, path, payload, key)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    stored = ledger.max_position()
    again = _keyed(client, headers, who, path, payload, key)
    assert again.status_code == 201, again.get_data(as_text=True)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers.get("Location") == first.headers.get("Location")
    assert ledger.max_position() == stored, "a retry stored something"
    return body(first), body(again)


def _refused_as_reused(client, headers, who, path, payload, key, ledger) -> None:
    before, chain = ledger.max_position(), ledger.determinations.chain(CCG, SCHEME)
    r = _keyed(client, headers, who, path, payload, key)
    assert (r.status_code, body(r)["code"]) == (422, "idempotency-key-reused"), body(r)
    assert key in body(r)["detail"]
    assert ledger.max_position() == before
    assert ledger.determinations.chain(CCG, SCHEME) == chain


def test_a_retried_issue_or_appeal_write_stores_once(client, headers, ledger: QPLedger) -> None:
    issue_id, appeal_id = _arrange(ledger)
    appeal_path = f"{RECORD}/appeals/{appeal_id}"

    evidence = {"text": "the incident was at another trust", "attachments": [PDF]}
    first, again = _retried(
        client, headers, "ccg", f"{appeal_path}/evidence", evidence, "ev-1", ledger
    )
    assert len(again["evidence"]) == len(first["evidence"]) == 1
    _refused_as_reused(
        client, headers, "ccg", f"{appeal_path}/evidence", {"text": "other"}, "ev-1", ledger
    )

    rescind = {"type": "quality_failure_rescinded", "flag_id": "F1"}
    upheld = {"outcome": "upheld", "determination": "wrong trust", "remedy": [rescind]}
    first, again = _retried(
        client, headers, "board", f"{appeal_path}/determination", upheld, "det-1", ledger
    )
    assert first == again and len(again["remedy"]) == 1  # the remedy was applied once
    dismissed = {"outcome": "dismissed", "determination": "no"}
    _refused_as_reused(
        client, headers, "board", f"{appeal_path}/determination", dismissed, "det-1", ledger
    )

    revise = {"appeal_id": appeal_id, "reason": "appeal upheld"}
    first, again = _retried(
        client, headers, "board", f"{RECORD}/issued-decisions", revise, "iss-1", ledger
    )
    assert first == again and first["replaces"] == issue_id
    _refused_as_reused(
        client, headers, "board", f"{RECORD}/issued-decisions", {"reason": "x"}, "iss-1", ledger
    )

    lodge = {"issue_id": first["issue_id"], "grounds": "the C. diff count", "disputes": ["hcai"]}
    lodged, again = _retried(client, headers, "ccg", f"{RECORD}/appeals", lodge, "app-2", ledger)
    assert lodged == again and lodged["appeal_id"] != appeal_id
    # A key names one request: not another kind of write either.
    new_appeal = f"{RECORD}/appeals/{lodged['appeal_id']}/evidence"
    _refused_as_reused(client, headers, "ccg", new_appeal, {"text": "t"}, "app-2", ledger)
    # Keys are per caller: the Board's "app-2" is its own.
    r = _keyed(client, headers, "board", f"{RECORD}/issued-decisions", {"force": True}, "app-2")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers


def test_racing_retries_of_one_lodging_store_one_appeal(ledger: QPLedger) -> None:
    import threading

    issue_id, appeal_id = _arrange(ledger)
    _dismiss(ledger, issue_id, appeal_id)
    revised = ledger.determinations.issue(CCG, SCHEME, actor="board#setup", force=True)
    revised = revised["issue_id"]
    results: list[str] = []
    errors: list[BaseException] = []

    def lodge() -> None:
        try:
            appeal = ledger.determinations.lodge_appeal(
                CCG, SCHEME, revised, grounds="g", actor="ccg:06F#race", idempotency_key="k"
            )
            results.append(appeal["appeal_id"])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    before = ledger.max_position()
    threads = [threading.Thread(target=lodge) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 8 and len(set(results)) == 1
    assert ledger.max_position() == before + 1  # one AppealLodged event
    assert len(ledger.determinations.appeals(CCG, SCHEME)) == 2


def test_a_retried_issue_for_every_ccg_resumes(sqlite_app) -> None:
    """Each CCG's issue is keyed KEY@CCG: a retry returns those made, makes the rest."""
    from tests.api.apikit import headers_factory

    client, headers = sqlite_app.test_client(), headers_factory(sqlite_app)
    ledger = sqlite_app.extensions["qp_ledger"]
    path = f"/schemes/{SCHEME}/issued-decisions"
    # A first attempt that got as far as two CCGs before failing:
    board = headers("board")
    actor = sqlite_app.extensions["qp_tokens"].authenticate(board["Authorization"][7:]).actor
    early = {
        ccg: ledger.determinations.issue(
            ccg, SCHEME, actor=actor, reason="Q4", idempotency_key=f"year-end@{ccg}", force=True
        )["issue_id"]
        for ccg in (CCG, OTHER_CCG)
    }
    # Forced, so every CCG is issued (most have no events): the retry must make 209.
    forced = {"reason": "Q4", "force": True}
    everyone = created(_keyed(client, headers, "board", path, forced, "year-end"))
    assert everyone["count"] == 211
    by_ccg = {i["ccg"]: i for i in everyone["issued"]}
    assert {ccg: by_ccg[ccg]["issue_id"] for ccg in early} == early
    assert all(i["replaces"] is None for i in everyone["issued"])  # nothing issued twice
    stored = ledger.max_position()
    again = created(_keyed(client, headers, "board", path, forced, "year-end"))
    assert again == everyone and ledger.max_position() == stored
    # Another body under the key is refused at the first CCG, storing nothing.
    r = _keyed(client, headers, "board", path, {"reason": "other"}, "year-end")
    assert (r.status_code, body(r)["code"]) == (422, "idempotency-key-reused")
    too_long = _keyed(client, headers, "board", path, {}, "k" * 197)
    assert too_long.status_code == 422 and "at most 196" in body(too_long)["detail"]
    assert ledger.max_position() == stored
