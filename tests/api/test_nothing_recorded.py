"""Nothing recorded yet, over HTTP (issue 9, item 5), on SQLite and PostgreSQL.

A decision at a moment when the CCG's record held no events is a 404
``nothing-recorded`` problem naming where the record starts, not a £0
decision. Issuing such a record, or a decision unchanged since the latest
issue, is refused and stores nothing unless the body says ``"force": true``.
"""

from __future__ import annotations

from typing import Any

from ledger.service.application import QPLedger
from tests.api.apikit import CCG, OTHER_CCG, RECORD, SCHEME, body, command

OTHER_RECORD = f"/ccgs/{OTHER_CCG}/schemes/{SCHEME}"
PROBLEM = "application/problem+json"


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.mimetype) == (status, PROBLEM), response.get_data(
        as_text=True
    )
    document: dict[str, Any] = body(response)
    assert document["code"] == code and document["type"] == f"urn:qp-ledger:problem:{code}"
    return document


def test_a_decision_before_the_first_event_is_a_404_naming_the_first_event(
    client, headers, ledger: QPLedger
) -> None:
    ledger.execute(command("population_recorded", population=449_953, source="ONS"))
    opened = ledger.execute(command("population_recorded", OTHER_CCG, population=1, source="x"))
    first = ledger.history(OTHER_CCG, SCHEME, limit=1)[0]
    assert first["position"] == opened.position - 1  # record_opened, then the population
    reader = headers("board")
    for query in ("?position=2", "?position=0", "?as_of=2013-04-01T00:00:00Z"):
        r = client.get(f"{OTHER_RECORD}/decision{query}", headers=reader)
        found = problem(r, 404, "nothing-recorded")
        assert found["title"] == "Nothing was recorded yet for this CCG and scheme at that point"
        assert (
            f"so there is no decision to show; its first event is at log position "
            f"{first['position']}, recorded {first['recorded_at']}"
        ) in found["detail"], query
        assert found["errors"][0]["field"] == "ccg"
    at_2 = problem(
        client.get(f"{OTHER_RECORD}/decision?position=2", headers=reader), 404, "nothing-recorded"
    )
    assert "nothing was recorded yet for 00C in qp-2013-14 at log position 2 (" in at_2["detail"]
    never = problem(
        client.get("/ccgs/00D/schemes/qp-2013-14/decision", headers=reader), 404, "nothing-recorded"
    )
    assert never["detail"] == (
        "nothing has been recorded yet for 00D in qp-2013-14 (its record has no events), so "
        "there is no decision to show"
    )
    diff = client.get(f"{OTHER_RECORD}/decision-diff?from_position=1", headers=reader)
    assert (
        "from: nothing was recorded yet for 00C" in problem(diff, 404, "nothing-recorded")["detail"]
    )
    assert client.get(f"{OTHER_RECORD}/decision", headers=reader).status_code == 200
    assert client.get(f"{RECORD}/decision?position=2", headers=reader).status_code == 200


def test_issuing_nothing_or_the_same_again_is_refused_unless_forced(
    client, headers, ledger: QPLedger
) -> None:
    board = headers("board")
    head = ledger.max_position()
    r = client.post(f"{RECORD}/issued-decisions", json={}, headers=board)
    refused = problem(r, 404, "nothing-recorded")
    assert refused["detail"] == (
        "nothing has been recorded yet for 06F in qp-2013-14 (its record has no events), so "
        'there is no decision to issue; send "force": true to issue it anyway'
    )
    assert refused["errors"][0]["field"] == "force"
    assert ledger.max_position() == head and ledger.determinations.issued(CCG, SCHEME) == []

    ledger.execute(command("population_recorded", population=449_953, source="ONS"))
    first = body(client.post(f"{RECORD}/issued-decisions", json={}, headers=board))
    head = ledger.max_position()
    r = client.post(f"{RECORD}/issued-decisions", json={"reason": "again"}, headers=board)
    unchanged = problem(r, 422, "decision-unchanged")
    assert unchanged["title"] == "The decision is unchanged since the CCG's latest issue"
    assert unchanged["detail"].startswith(
        f"the decision for 06F in qp-2013-14 has not changed since {first['issue_id']} was "
        f"issued (computed at log position {first['position']}; same inputs digest "
        f"{first['inputs_digest']})"
    )
    assert ledger.max_position() == head
    assert [i["issue_id"] for i in ledger.determinations.issued(CCG, SCHEME)] == [first["issue_id"]]

    forced = client.post(f"{RECORD}/issued-decisions", json={"force": True}, headers=board)
    assert forced.status_code == 201 and body(forced)["replaces"] == first["issue_id"]
    bad = client.post(f"{RECORD}/issued-decisions", json={"force": [1]}, headers=board)
    assert problem(bad, 422, "validation-error")["errors"][0]["field"] == "force"


def test_the_openapi_document_describes_force_and_skipped(client) -> None:
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert schemas["IssueDecision"]["properties"]["force"]["type"] == "boolean"
    assert schemas["IssueAllDecisions"]["properties"]["force"]["type"] == "boolean"
    assert "skipped" in schemas["IssuedAll"]["required"]
