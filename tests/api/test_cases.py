"""HCAI case resources over HTTP (issue 14): receipts, retries, refusals, and the decision."""

from __future__ import annotations

from tests.api.apikit import CCG

SCHEME = "qp-2013-14-pir"
RECORD = f"/ccgs/{CCG}/schemes/{SCHEME}"
CASE = {"case_id": "MRSA-H1", "organism": "mrsa", "specimen_date": "2013-08-08", "trust": "RC1"}
ASSIGN = {
    "case_id": "MRSA-H1",
    "assigned_to": f"ccg:{CCG}",
    "assigned_by": "PIR lead",
    "pir_reference": "PIR-H1",
}


def test_a_case_reported_and_assigned_over_http_costs_the_ccg_its_hcai_share(
    client, headers, ledger
) -> None:
    r = client.post(
        f"{RECORD}/population",
        json={"population": 449_953, "source": "ONS"},
        headers=headers("board"),
    )
    assert r.status_code == 201
    reported = client.post(f"{RECORD}/hcai-cases", json=CASE, headers=headers("board"))
    assert reported.status_code == 201, reported.json
    assert (reported.json["type"], reported.json["ccg"], reported.json["version"]) == (
        "hcai_case_reported",
        CCG,
        1,
    )
    retry = {"Idempotency-Key": "pir-h1", **headers("area-team")}
    assigned = client.post(f"{RECORD}/hcai-case-assignments", json=ASSIGN, headers=retry)
    assert assigned.status_code == 201, assigned.json
    assert assigned.json["version"] == 2  # the case's stream: reported, assigned
    head = ledger.max_position()
    again = client.post(f"{RECORD}/hcai-case-assignments", json=ASSIGN, headers=retry)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == assigned.json
    assert ledger.max_position() == head

    decision = client.get(f"{RECORD}/decision", headers=headers("ccg")).json
    hcai = next(c for c in decision["components"] if c["measure"] == "hcai")
    line = hcai["criteria"][0]
    assert (line["value"], line["met"], line["value_source"]) == (1, False, "cases")
    assert line["cases"][0]["case_event"] == assigned.json["event_id"]
    assert line["cases"][0]["assigned_by"] == "PIR lead"
    history = client.get(f"{RECORD}/history", headers=headers("ccg")).json
    events = history["events"] if isinstance(history, dict) else history
    attributed = events[-1]
    assert attributed["type"] == "hcai_case_attributed"
    assert attributed["actor"].startswith("area-team:")


def test_a_refused_case_command_is_a_problem_and_stores_nothing(client, headers, ledger) -> None:
    board = headers("board")
    assert client.post(f"{RECORD}/hcai-cases", json=CASE, headers=board).status_code == 201
    head = ledger.max_position()
    twice = client.post(f"{RECORD}/hcai-cases", json=CASE, headers=board)
    assert twice.status_code == 422
    assert twice.mimetype == "application/problem+json"
    assert "was already reported" in twice.json["detail"]
    bad_trust = client.post(
        f"{RECORD}/hcai-cases", json={**CASE, "case_id": "X-2", "trust": "R1"}, headers=board
    )
    assert bad_trust.status_code == 422
    assert bad_trust.json["errors"][0]["field"] == "trust"
    conditional = client.post(
        f"{RECORD}/hcai-case-assignments",
        json=ASSIGN,
        headers={"If-Match": f'"{CCG}/{SCHEME}/v1/x"', **headers("area-team")},
    )
    assert conditional.status_code == 422
    assert "If-Match" in conditional.json["detail"]
    unknown = client.post(
        f"{RECORD}/hcai-case-withdrawals", json={"case_id": "NEVER"}, headers=board
    )
    assert unknown.status_code == 422
    assert "no case 'NEVER' has been reported" in unknown.json["detail"]
    assert ledger.max_position() == head
    # the scheme that takes submitted counts has the resource, and refuses the case
    old = client.post(f"/ccgs/{CCG}/schemes/qp-2013-14/hcai-cases", json=CASE, headers=board)
    assert old.status_code == 422
    assert "takes submitted case counts" in old.json["detail"]
    assert ledger.max_position() == head


def test_the_reference_scheme_says_how_each_criterion_gets_its_value(client, headers) -> None:
    scheme = client.get(f"/reference/schemes/{SCHEME}", headers=headers("reporter")).json
    hcai = next(m for m in scheme["measures"] if m["id"] == "hcai")
    assert [(c["id"], c["value"]) for c in hcai["criteria"]] == [
        ("mrsa-cases", "cases"),
        ("cdiff-cases", "submitted"),
    ]


def test_a_case_reads_with_its_whole_story_under_the_ccg_it_was_reported_against(
    client, headers, ledger
) -> None:
    board = headers("board")
    assert client.post(f"{RECORD}/hcai-cases", json=CASE, headers=board).status_code == 201
    area = headers("area-team")
    first = client.post(f"{RECORD}/hcai-case-assignments", json=ASSIGN, headers=area)
    moved = {**ASSIGN, "assigned_to": "trust:RC1", "pir_reference": "PIR-H1-A"}
    again = client.post(
        f"{RECORD}/hcai-case-assignments",
        json={**moved, "reason": "challenge upheld"},
        headers=area,
    )
    assert (first.status_code, again.status_code) == (201, 201)
    story = client.get(f"{RECORD}/hcai-cases/MRSA-H1", headers=headers("ccg"))
    assert story.status_code == 200, story.json
    case = story.json
    assert (case["reported_against"], case["assigned_to"], case["pir_reference"]) == (
        CCG,
        "trust:RC1",
        "PIR-H1-A",
    )
    assert case["withdrawn"] is False
    assert [e["type"] for e in case["events"]] == [
        "hcai_case_reported",
        "hcai_case_assigned",
        "hcai_case_assigned",
    ]
    last = case["events"][-1]
    assert last["id"] == again.json["event_id"] and last["position"] == again.json["position"]
    assert last["reason"] == "challenge upheld"
    assert last["actor"].startswith("area-team:")
    assert last["fields"]["assigned_to"] == "trust:RC1"
    # read only under the CCG it was reported against
    other = client.get(f"/ccgs/00C/schemes/{SCHEME}/hcai-cases/MRSA-H1", headers=board)
    assert other.status_code == 404
    assert "no case 'MRSA-H1' has been reported against 00C" in other.json["detail"]
    assert client.get(f"{RECORD}/hcai-cases/NOPE", headers=board).status_code == 404


def test_a_cases_own_event_is_proven_to_the_board_not_to_a_ccg(client, headers) -> None:
    reported = client.post(f"{RECORD}/hcai-cases", json=CASE, headers=headers("board"))
    assert reported.status_code == 201
    leaf = f"/log/events/{reported.json['position']}/leaf"
    assert client.get(leaf, headers=headers("board")).status_code == 200
    refused = client.get(leaf, headers=headers("ccg"))
    assert refused.status_code == 403
    assert "is not a record of that CCG" in refused.json["detail"]
