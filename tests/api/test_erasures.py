"""POST /erasures: the Board erases an event's words; history shows who, when and why.

On SQLite and PostgreSQL. Each refusal (another role, a fact that decides
money, an unknown event, a body that is not the schema's) is a problem
document and changes nothing; every answer is checked against the OpenAPI
document.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient

from tests.api.apikit import CCG, RECORD, SCHEME, HeadersFor, body, command, ledger_of

WORDS = "Dr Jane Example asked for the figure to be recorded"
WHY = "the author asked for it to be erased"
NOBODY = "00000000-0000-0000-0000-000000000000"


def _written(api_app: Flask) -> str:
    ledger = ledger_of(api_app)
    receipt = ledger.execute(
        command("population_recorded", population=449_953, source="ONS", reason=WORDS)
    )
    return receipt.event_id


def _history(client: FlaskClient, headers: HeadersFor) -> list[dict[str, Any]]:
    answer = client.get(f"{RECORD}/history", headers=headers("auditor"))
    assert answer.status_code == 200
    events: list[dict[str, Any]] = body(answer)["events"]
    return events


def test_the_board_erases_a_reason_and_history_says_so(
    api_app: Flask, client: FlaskClient, headers: HeadersFor
) -> None:
    spec = schemathesis.openapi.from_wsgi("/openapi.json", api_app)
    event_id = _written(api_app)
    assert [e["reason"] for e in _history(client, headers)] == [None, WORDS]
    erased = client.post(
        "/erasures",
        json={"event_id": event_id, "field": "reason", "why": WHY},
        headers=headers("board"),
    )
    assert erased.status_code == 201, erased.json
    spec["/erasures"]["POST"].validate_response(erased)
    assert body(erased)["erased_by"].startswith("board") and body(erased)["why"] == WHY
    history = client.get(f"{RECORD}/history", headers=headers("auditor"))
    spec[f"{'/ccgs/{ccg}/schemes/{scheme}'}/history"]["GET"].validate_response(history)
    event = body(history)["events"][-1]
    assert event["id"] == event_id and event["reason"] is None
    assert event["erased"] == {
        "reason": {"by": body(erased)["erased_by"], "at": body(erased)["erased_at"], "why": WHY}
    }
    assert WORDS not in history.get_data(as_text=True)
    again = client.post(
        "/erasures",
        json={"event_id": event_id, "field": "reason", "why": WHY},
        headers=headers("board"),
    )
    assert again.status_code == 422 and "already erased" in again.json["detail"]


@pytest.mark.parametrize(
    ("who", "payload", "status", "words"),
    [
        ("ccg", {"field": "reason", "why": WHY}, 403, "may not erase"),
        ("auditor", {"field": "reason", "why": WHY}, 403, "may not erase"),
        ("anonymous", {"field": "reason", "why": WHY}, 401, ""),
        ("board", {"field": "population", "why": WHY}, 422, "cannot be erased"),
        ("board", {"field": "reason", "why": ""}, 422, "why"),
        ("board", {"field": "reason", "why": WHY, "event_id": "nonsense"}, 422, "not an event"),
        ("board", {"field": "reason", "why": WHY, "event_id": NOBODY}, 404, "no stored reason"),
        ("board", {"field": "reason", "why": WHY, "colour": "red"}, 422, "colour"),
    ],
    ids=["ccg", "auditor", "anonymous", "money", "no-why", "bad-id", "unknown", "extra"],
)
def test_refused_erasures_change_nothing(
    api_app: Flask,
    client: FlaskClient,
    headers: HeadersFor,
    who: str,
    payload: dict[str, Any],
    status: int,
    words: str,
) -> None:
    event_id = _written(api_app)
    head = ledger_of(api_app).max_position()
    answer = client.post("/erasures", json={"event_id": event_id, **payload}, headers=headers(who))
    assert answer.status_code == status, answer.json
    assert answer.mimetype == "application/problem+json"
    assert words in str(answer.json)
    assert ledger_of(api_app).max_position() == head
    assert _history(client, headers)[-1]["reason"] == WORDS


def test_the_board_erases_an_appeals_words_and_the_appeal_says_so(
    api_app: Flask, client: FlaskClient, headers: HeadersFor
) -> None:
    spec = schemathesis.openapi.from_wsgi("/openapi.json", api_app)
    ledger = ledger_of(api_app)
    ledger.execute(command("population_recorded", population=449_953, source="ONS"))
    desk = ledger.determinations
    issue_id = desk.issue(CCG, SCHEME, actor="board#test")["issue_id"]
    words = {"grounds": WORDS, "text": f"{WORDS}, in writing", "determination": f"Not so: {WORDS}"}
    appeal_id = desk.lodge_appeal(
        CCG, SCHEME, issue_id, grounds=words["grounds"], actor=f"ccg:{CCG}"
    )["appeal_id"]
    desk.add_evidence(CCG, SCHEME, appeal_id, text=words["text"], actor=f"ccg:{CCG}")
    appeal = desk.determine_appeal(
        CCG, SCHEME, appeal_id, outcome="dismissed", determination=words["determination"],
        actor="board#test",
    )  # fmt: skip
    events = {
        "grounds": appeal["lodged_event_id"],
        "text": appeal["evidence"][0]["event_id"],
        "determination": appeal["determined_event_id"],
    }
    how = {}
    for field, event_id in events.items():
        erased = client.post(
            "/erasures",
            json={"event_id": event_id, "field": field, "why": WHY},
            headers=headers("board"),
        )
        assert erased.status_code == 201, erased.json
        how[field] = {"by": body(erased)["erased_by"], "at": body(erased)["erased_at"], "why": WHY}
    path = f"{RECORD}/appeals/{appeal_id}"
    answer = client.get(path, headers=headers("auditor"))
    spec[f"{'/ccgs/{ccg}/schemes/{scheme}'}/appeals/{{appeal_id}}"]["GET"].validate_response(answer)
    shown = body(answer)
    assert (shown["grounds"], shown["determination"]) == (None, None)
    assert shown["erased"] == {"grounds": how["grounds"], "determination": how["determination"]}
    assert shown["evidence"][0]["text"] is None
    assert shown["evidence"][0]["erased"] == {"text": how["text"]}
    listed = client.get(f"{RECORD}/appeals", headers=headers("auditor"))
    assert body(listed)["appeals"] == [shown]
    for said in words.values():
        assert said not in answer.get_data(as_text=True) + listed.get_data(as_text=True)
    money = client.post(
        "/erasures",
        json={"event_id": events["determination"], "field": "outcome", "why": WHY},
        headers=headers("board"),
    )
    assert money.status_code == 422 and "cannot be erased" in money.json["detail"]
