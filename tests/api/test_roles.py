"""The role x endpoint matrix of docs/security.md, pair by pair, on both backends.

The matrix is written out here, independently of ``api/auth.py``, so the code
is checked against the documented rules rather than against itself. Allowed
pairs must succeed; refused ones get 401 (no token) or 403 (wrong role, or
right role for another organisation) as problem+json, and store nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.apikit import (
    BODIES,
    CCG,
    PRINCIPALS,
    RECORD,
    SCHEME,
    build,
    command,
    fresh_postgres_url,
    headers_factory,
    ledger_of,
    prepare,
    project,
)

ALL = set(PRINCIPALS)
AUTHENTICATED = ALL - {"anonymous"}
#: Who may read a CCG's decision and history: that CCG, its area team, the Board, auditors.
READERS_OF_06F = {"ccg", "area-team", "board", "auditor"}
#: Who may read a CCG's issued decisions and appeals: that CCG, the Board, auditors.
DETERMINATION_READERS_OF_06F = {"ccg", "board", "auditor"}
#: Who may read the log's checkpoints, key and consistency proofs: every role reading decisions.
LOG_READERS = AUTHENTICATED - {"reporter"}

#: A record in the scheme that counts MRSA from case events (issue 14).
PIR_RECORD = f"/ccgs/{CCG}/schemes/qp-2013-14-pir"
#: (method, path) -> the principals that may call it. Everyone else is refused.
REPORT_READERS = {"board", "auditor", "reporter"}
MATRIX: dict[tuple[str, str], set[str]] = {
    ("POST", f"{RECORD}/population"): {"board"},
    ("POST", f"{RECORD}/local-measures"): {"ccg"},
    ("POST", f"{RECORD}/thresholds"): {"area-team"},
    ("POST", f"{RECORD}/measure-values"): {"ccg"},
    ("POST", f"{RECORD}/constitution-results"): {"board"},
    ("POST", f"{RECORD}/quality-failures"): {"board"},
    ("POST", f"{RECORD}/quality-failure-rescissions"): {"board"},
    ("POST", f"{RECORD}/financial-position"): {"ccg"},
    # HCAI cases (issue 14): the Board reports and withdraws, the CCG's area team assigns.
    ("POST", f"{PIR_RECORD}/hcai-cases"): {"board"},
    ("POST", f"{PIR_RECORD}/hcai-case-assignments"): {"area-team"},
    ("POST", f"{PIR_RECORD}/hcai-case-withdrawals"): {"board"},
    ("GET", f"{PIR_RECORD}/hcai-cases/<case_id>"): READERS_OF_06F,
    ("GET", f"{RECORD}/decision"): READERS_OF_06F,
    ("GET", f"{RECORD}/history"): READERS_OF_06F,
    ("GET", "/reference/ccgs"): AUTHENTICATED,
    ("GET", f"/reference/ccgs/{CCG}"): AUTHENTICATED,
    ("GET", "/reference/schemes"): AUTHENTICATED,
    ("GET", f"/reference/schemes/{SCHEME}"): AUTHENTICATED,
    ("GET", "/health"): ALL,
    ("GET", "/ready"): ALL,
    # Issued decisions and appeals (issue 6); <issue_id> and <appeal_id> are made by arrange().
    ("POST", f"{RECORD}/issued-decisions"): {"board"},
    ("POST", f"/schemes/{SCHEME}/issued-decisions"): {"board"},
    ("GET", f"{RECORD}/determinations"): DETERMINATION_READERS_OF_06F,
    ("GET", f"{RECORD}/issued-decisions/<issue_id>"): DETERMINATION_READERS_OF_06F,
    ("GET", f"{RECORD}/issued-decisions/<issue_id>/reproduction"): DETERMINATION_READERS_OF_06F,
    ("GET", f"{RECORD}/issued-decisions/<issue_id>/bundle"): DETERMINATION_READERS_OF_06F,
    ("GET", f"{RECORD}/decision-diff?from_position=<position>"): DETERMINATION_READERS_OF_06F,
    ("POST", f"{RECORD}/appeals"): {"ccg"},
    ("GET", f"{RECORD}/appeals"): DETERMINATION_READERS_OF_06F,
    ("GET", f"{RECORD}/appeals/<appeal_id>"): DETERMINATION_READERS_OF_06F,
    ("POST", f"{RECORD}/appeals/<appeal_id>/evidence"): {"ccg"},
    ("POST", f"{RECORD}/appeals/<appeal_id>/determination"): {"board"},
    ("GET", f"/schemes/{SCHEME}/appeal-counts"): {"board", "auditor", "reporter"},
    # The tamper-evident log (issue 5). Checkpoints, the key and consistency proofs hold
    # no event content: every role that reads decisions. An event's leaf and inclusion
    # proof: those who may read its CCG (<position> is made an event of 06F by arrange()).
    ("GET", "/log/checkpoint"): LOG_READERS,
    ("GET", "/log/checkpoint.json"): LOG_READERS,
    ("GET", "/log/key"): LOG_READERS,
    ("GET", "/log/consistency?first=0"): LOG_READERS,
    ("GET", "/log/events/<position>/inclusion"): READERS_OF_06F,
    ("GET", "/log/events/<position>/leaf"): READERS_OF_06F,
    # Reports (issue 4): read models only, across CCGs; the reporter's whole world.
    ("GET", f"/reports/decisions?scheme={SCHEME}"): REPORT_READERS,
    ("GET", f"/reports/ccgs/{CCG}/decision?scheme={SCHEME}"): REPORT_READERS,
    ("GET", f"/reports/ccgs/{CCG}/timeline?scheme={SCHEME}"): REPORT_READERS,
    ("GET", f"/reports/summaries?scheme={SCHEME}"): REPORT_READERS,
    ("GET", f"/reports/attainment?scheme={SCHEME}"): REPORT_READERS,
    ("GET", "/reports/status"): REPORT_READERS,
    ("GET", "/metrics"): ALL,
    # Erasing an event's words (issue 11): the Board alone.
    ("POST", "/erasures"): {"board"},
}

#: Valid bodies for the issue-6 writes that need nothing made first.
DETERMINATION_BODIES: dict[str, dict[str, Any]] = {
    "issued-decisions": {"reason": "role matrix", "force": True},
    "evidence": {
        "text": "Provider RCA report",
        "attachments": [
            {"name": "rca.pdf", "sha256": "ab" * 32, "size": 1024, "media_type": "application/pdf"}
        ],
    },
    "determination": {"outcome": "dismissed", "determination": "No error in the flag"},
}


CASE_NUMBERS = itertools.count(1)


def case_body(ledger: Any, resource: str) -> dict[str, Any]:
    """A valid body for a case resource: a new case id, reported first when it must exist."""
    case_id = f"MATRIX-{next(CASE_NUMBERS)}"
    if resource == "hcai-cases":
        return {
            "case_id": case_id,
            "organism": "mrsa",
            "specimen_date": "2013-07-01",
            "trust": "RC1",
        }
    ledger.execute(
        {
            "type": "hcai_case_reported",
            "ccg": CCG,
            "scheme": "qp-2013-14-pir",
            "case_id": case_id,
            "organism": "mrsa",
            "specimen_date": "2013-07-01",
            "trust": "RC1",
        },
        actor="board#setup",
    )
    if resource == "hcai-case-withdrawals":
        return {"case_id": case_id, "reason": "duplicate report"}
    return {
        "case_id": case_id,
        "assigned_to": f"ccg:{CCG}",
        "assigned_by": "post-infection review",
        "pir_reference": "PIR-M",
    }


def arrange(ledger: Any, method: str, path: str) -> tuple[str, dict[str, Any] | None]:
    """The concrete request for a matrix row: ids in the path made real, and a valid body.

    A row naming ``<issue_id>`` or ``<appeal_id>`` gets a fresh issued decision of
    06F with an open appeal against it, so every pair can succeed when allowed.
    """
    desk = ledger.determinations
    if path.startswith("/reports"):  # 06F has a decision, and the read models are current
        ledger.execute(
            command("population_recorded", population=449953, source="matrix"), actor="board#setup"
        )
        project(ledger)
        return path, None
    if "<case_id>" in path:  # a case reported against 06F
        case_id = case_body(ledger, "hcai-case-withdrawals")["case_id"]
        return path.replace("<case_id>", case_id), None
    if "<position>" in path:  # an event of 06F's record
        body = {"population": 449953, "source": "role matrix"}
        receipt = ledger.execute(command("population_recorded", **body), actor="board#setup")
        return path.replace("<position>", str(receipt.position)), None
    if "<" in path:
        issue_id = desk.issue(CCG, SCHEME, actor="board#setup", force=True)["issue_id"]
        appeal = desk.lodge_appeal(CCG, SCHEME, issue_id, grounds="setup", actor=f"ccg:{CCG}#setup")
        path = path.replace("<issue_id>", issue_id).replace("<appeal_id>", appeal["appeal_id"])
    if method == "GET":
        if ledger.stream_version(CCG, SCHEME) == 0:  # a record to read, whatever ran before
            body = {"population": 449953, "source": "role matrix"}
            ledger.execute(command("population_recorded", **body), actor="board#setup")
        return path, None
    resource = path.rsplit("/", 1)[1]
    if resource == "erasures":  # an event of 06F with words to erase
        body = {"population": 449953, "source": "role matrix", "reason": "words to erase"}
        receipt = ledger.execute(command("population_recorded", **body), actor="board#setup")
        return path, {"event_id": receipt.event_id, "field": "reason", "why": "role matrix"}
    if resource == "appeals":
        issue_id = desk.issue(CCG, SCHEME, actor="board#setup", force=True)["issue_id"]
        return path, {"issue_id": issue_id, "grounds": "role matrix"}
    if resource in DETERMINATION_BODIES:
        return path, DETERMINATION_BODIES[resource]
    if resource.startswith("hcai-case"):
        return path, case_body(ledger, resource)
    return path, prepare(ledger, resource)


PAIRS = [
    pytest.param(
        method,
        path,
        who,
        id=f"{who}-{method}-{path.removeprefix(PIR_RECORD).removeprefix(RECORD) or path}",
    )
    for (method, path) in MATRIX
    for who in PRINCIPALS
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any, Any]]:
    """One app per backend for the whole matrix: each pair checks only what it changed."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'ledger.db'}"
    else:
        url = fresh_postgres_url(request.config)
    app = build(url)
    yield app.test_client(), headers_factory(app), ledger_of(app)
    ledger_of(app).close()


@pytest.mark.parametrize(("method", "path", "who"), PAIRS)
def test_role_endpoint_pair(matrix, method: str, path: str, who: str) -> None:
    client, headers, ledger = matrix
    allowed = who in MATRIX[(method, path)]
    path, body = arrange(ledger, method, path)
    before = ledger.max_position()
    if method == "POST":
        response = client.post(path, json=body, headers=headers(who))
    else:
        response = client.get(path, headers=headers(who))
    if allowed:
        assert response.status_code == (201 if method == "POST" else 200), response.json
        if method == "POST" and path == "/erasures":
            assert ledger.max_position() > before
            assert response.json["event_id"] == body["event_id"]
        elif method == "POST":
            assert ledger.max_position() > before
            subject = ("ccg", CCG) if "ccg" in response.json else ("scheme", SCHEME)
            assert response.json[subject[0]] == subject[1]
    else:
        expected = 401 if who == "anonymous" else 403
        assert response.status_code == expected, response.json
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == expected
        assert ledger.max_position() == before
        if expected == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_matrix_covers_every_route(api_app) -> None:
    """A new endpoint must be added to the matrix (and docs/security.md) to pass."""
    documented = {
        re.sub(r"^/schemes/[^/]+/", "/schemes/<scheme>/", path.split("?")[0])
        .replace(PIR_RECORD, "/ccgs/<ccg>/schemes/<scheme>")
        .replace(RECORD, "/ccgs/<ccg>/schemes/<scheme>")
        .replace(f"/reference/ccgs/{CCG}", "/reference/ccgs/<ccg>")
        .replace(f"/reference/schemes/{SCHEME}", "/reference/schemes/<scheme>")
        .replace("<position>", "<int:position>")
        .replace(f"/reports/ccgs/{CCG}/", "/reports/ccgs/<ccg>/")
        for _, path in MATRIX
    }
    served = {
        rule.rule
        for rule in api_app.url_map.iter_rules()
        # The console (api/console) is pages, not API: tests/console holds it to these rules.
        if rule.endpoint.split(".")[0] not in ("api-docs", "static", "console")
    }
    assert served == documented


def test_every_view_declares_who_may_call_it(api_app) -> None:
    for rule in api_app.url_map.iter_rules():
        view = api_app.view_functions[rule.endpoint]
        if rule.endpoint.startswith(("api-docs", "console.")) or rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            handler = getattr(view.view_class, method.lower())
            assert hasattr(handler, "_qp_action"), f"{rule.rule} {method} has no @allow"


OTHER_RECORD = f"/ccgs/00C/schemes/{SCHEME}"
VALUE = BODIES["measure-values"]


def post_as(client: Any, headers: Any, who: str, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers=headers(who))


def test_a_ccg_cannot_write_for_another_ccg(client, headers, ledger) -> None:
    r = post_as(client, headers, "ccg", f"{OTHER_RECORD}/measure-values", VALUE)
    assert r.status_code == 403
    assert "not for CCG 00C" in r.json["detail"]
    # nor by naming the other CCG in the body of its own path
    r = post_as(client, headers, "ccg", f"{RECORD}/measure-values", {**VALUE, "ccg": "00C"})
    assert r.status_code == 422
    assert r.json["errors"] == [
        {"field": "ccg", "message": "'00C' does not match the path", "allowed": [CCG]}
    ]
    assert ledger.max_position() == 0


def test_an_area_team_cannot_agree_a_threshold_outside_its_area(client, headers, ledger) -> None:
    r = post_as(client, headers, "area-team", f"{OTHER_RECORD}/thresholds", BODIES["thresholds"])
    assert r.status_code == 403
    assert ledger.max_position() == 0
    r = post_as(
        client, headers, "area-team-other", f"{OTHER_RECORD}/thresholds", BODIES["thresholds"]
    )
    assert r.status_code == 201
    assert r.json["ccg"] == "00C"


def test_the_stored_actor_comes_from_the_token(client, headers, ledger, api_app) -> None:
    r = post_as(client, headers, "ccg", f"{RECORD}/measure-values", VALUE)
    assert r.status_code == 201
    (token,) = [t for t in api_app.extensions["qp_tokens"].list() if t.role == "ccg"]
    event = ledger.history(CCG, SCHEME)[-1]
    assert event["actor"] == f"ccg:{CCG}#{token.id}"
    refused = post_as(
        client, headers, "ccg", f"{RECORD}/measure-values", {**VALUE, "actor": "board"}
    )
    assert refused.status_code == 422
    assert refused.json["errors"][0]["field"] == "actor"
    assert len(ledger.history(CCG, SCHEME)) == 2


def test_a_revoked_or_unknown_token_is_refused(client, headers, ledger, api_app) -> None:
    store = api_app.extensions["qp_tokens"]
    token, plaintext = store.create("board")
    auth = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/reference/schemes", headers=auth).status_code == 200
    store.revoke(token.id)
    r = client.get("/reference/schemes", headers=auth)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    for bad in ("Bearer qpl_nope", "Basic dXNlcjpwYXNz", "Bearer", "qpl_x"):
        r = client.get("/reference/schemes", headers={"Authorization": bad})
        assert r.status_code == 401, bad
        assert r.mimetype == "application/problem+json"
