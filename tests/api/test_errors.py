"""Every refusal is an RFC 9457 problem document, and nothing is stored on any error."""

from __future__ import annotations

import pytest

from tests.api.apikit import BODIES, CCG, RECORD

PROBLEM = "application/problem+json"
VALUES = f"{RECORD}/measure-values"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["type"] == f"urn:qp-ledger:problem:{code}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["instance"] == response.request.path
    return body


def test_malformed_json(client, headers, ledger) -> None:
    r = client.post(
        VALUES, data='{"measure": "pyll",', content_type="application/json", headers=headers("ccg")
    )
    assert_problem(r, 400, "malformed-json")
    assert ledger.max_position() == 0


@pytest.mark.parametrize(
    "text",
    [
        '{"value": NaN}',
        '{"value": Infinity}',
        '{"a": 1, "a": 2}',
        "\udcff",
        '{"value": 1' + "0" * 5000 + "}",
    ],
)
def test_json_the_ledger_cannot_take_exactly_is_malformed(sqlite_app, text) -> None:
    client = sqlite_app.test_client()
    token = sqlite_app.extensions["qp_tokens"].create("ccg", CCG)[1]
    r = client.post(
        VALUES,
        data=text.encode("utf-8", "surrogateescape"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_problem(r, 400, "malformed-json")


def test_wrong_type_field(client, headers, ledger) -> None:
    r = client.post(
        VALUES, json={**BODIES["measure-values"], "value": "1990.25"}, headers=headers("ccg")
    )
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"] == [{"field": "value", "message": "Not a valid number."}]
    assert ledger.max_position() == 0


def test_unknown_field_lists_what_is_allowed(client, headers, ledger) -> None:
    r = client.post(
        VALUES, json={**BODIES["measure-values"], "colour": "blue"}, headers=headers("ccg")
    )
    body = assert_problem(r, 422, "validation-error")
    (error,) = body["errors"]
    assert error["field"] == "colour"
    assert error["message"] == "Unknown field."
    assert {"measure", "criterion", "period", "value", "reason"} <= set(error["allowed"])
    assert ledger.max_position() == 0


def test_nested_errors_name_the_path(client, headers, ledger) -> None:
    measures = [dict(m) for m in BODIES["local-measures"]["measures"]]
    measures[1]["direction"] = 7
    del measures[2]["name"]
    r = client.post(f"{RECORD}/local-measures", json={"measures": measures}, headers=headers("ccg"))
    body = assert_problem(r, 422, "validation-error")
    assert {e["field"] for e in body["errors"]} == {"measures[1].direction", "measures[2].name"}
    direction = next(e for e in body["errors"] if e["field"] == "measures[1].direction")
    assert direction["allowed"] == ["lower", "higher"]
    assert ledger.max_position() == 0


def test_a_rule_of_the_scheme_is_explained(client, headers, ledger) -> None:
    r = client.post(
        f"{RECORD}/constitution-results",
        json={"standard": "ae-4-hours", "period": "2013-14", "value": 1.5},
        headers=headers("board"),
    )
    body = assert_problem(r, 422, "invalid-command")
    assert body["errors"][0]["field"] == "value"
    assert body["errors"][0]["allowed"] == "0..1"
    r = client.post(
        f"{RECORD}/quality-failure-rescissions", json={"flag_id": "none"}, headers=headers("board")
    )
    assert_problem(r, 422, "rule-violation")
    assert ledger.max_position() == 0


def test_oversized_body_is_refused_before_parsing(api_app, headers, ledger) -> None:
    api_app.config["MAX_CONTENT_LENGTH"] = 1000
    client = api_app.test_client()
    body = {**BODIES["measure-values"], "reason": "x" * 2000}
    r = client.post(VALUES, json=body, headers=headers("ccg"))
    problem = assert_problem(r, 413, "content-too-large")
    assert "1000" in problem["detail"]
    assert ledger.max_position() == 0


def test_the_body_limit_is_a_setting(sqlite_url) -> None:
    from tests.api.apikit import build

    app = build(sqlite_url, QP_LEDGER_MAX_BODY_BYTES=50)
    r = app.test_client().post(
        VALUES, data=b"{" + b" " * 60 + b"}", content_type="application/json"
    )
    assert r.status_code == 413
    app.extensions["qp_ledger"].close()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_wrong_content_type(client, headers, ledger, content_type) -> None:
    import json

    kwargs = {"content_type": content_type} if content_type else {}
    r = client.post(
        VALUES, data=json.dumps(BODIES["measure-values"]), headers=headers("ccg"), **kwargs
    )
    body = assert_problem(r, 415, "unsupported-media-type")
    assert body["errors"][0]["allowed"] == ["application/json"]
    assert ledger.max_position() == 0


@pytest.mark.parametrize("text", ["[]", "null", "3", '"x"'])
def test_a_body_that_is_not_an_object(client, headers, ledger, text) -> None:
    r = client.post(VALUES, data=text, content_type="application/json", headers=headers("ccg"))
    assert_problem(r, 422, "validation-error")
    assert ledger.max_position() == 0


def test_unknown_ccg_or_scheme_in_the_path_is_404(client, headers) -> None:
    r = client.get("/ccgs/XXX/schemes/qp-2013-14/decision", headers=headers("board"))
    assert_problem(r, 404, "unknown-ccg")
    r = client.get(f"/ccgs/{CCG}/schemes/qp-1999-00/decision", headers=headers("board"))
    body = assert_problem(r, 404, "unknown-scheme")
    assert "qp-2013-14" in body["errors"][0]["allowed"]
    r = client.get("/reference/ccgs/XXX", headers=headers("board"))
    assert_problem(r, 404, "unknown-ccg")
    r = client.get("/reference/schemes/nope", headers=headers("board"))
    assert_problem(r, 404, "unknown-scheme")


def test_404_and_405_are_problems(client) -> None:
    assert_problem(client.get("/no/such/thing"), 404, "not-found")
    r = client.delete("/health")
    body = assert_problem(r, 405, "method-not-allowed")
    assert "GET" in r.headers["Allow"]
    assert "GET" in body["detail"]
    assert_problem(client.put(VALUES, json={}), 405, "method-not-allowed")


def test_an_unexpected_failure_is_a_500_problem_and_stores_nothing(
    api_app, headers, ledger, monkeypatch
) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(ledger), "decision", explode)
    r = api_app.test_client().get(f"{RECORD}/decision", headers=headers("board"))
    body = assert_problem(r, 500, "internal-server-error")
    assert "disk on fire" not in body["detail"]


def test_bad_query_parameters(client, headers) -> None:
    r = client.get(f"{RECORD}/history?limit=0", headers=headers("board"))
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == "limit"
    r = client.get(f"{RECORD}/decision?position=abc", headers=headers("board"))
    assert assert_problem(r, 422, "validation-error")["errors"][0]["field"] == "position"
    r = client.get(f"{RECORD}/decision?position=5", headers=headers("board"))
    assert assert_problem(r, 422, "invalid-command")["errors"][0]["field"] == "position"
    r = client.get(f"{RECORD}/decision?as_of=yesterday", headers=headers("board"))
    assert_problem(r, 422, "invalid-command")
    r = client.get(f"{RECORD}/decision?as_of=0001-01-01T00:00:00%2B05:00", headers=headers("board"))
    assert_problem(r, 422, "invalid-command")
    r = client.get(f"{RECORD}/decision?position=0&as_of=2014-01-01", headers=headers("board"))
    assert_problem(r, 422, "invalid-command")
