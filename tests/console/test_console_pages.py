"""The console through Flask's test client, on SQLite and PostgreSQL.

The console must never show more than the API would: every page is compared
with the API's answer to the same token, and every figure with the API's
figure. Forms need the session's CSRF token; a refused form changes nothing.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from api.console.charts import pounds
from ledger.integrity.checkpoint import verify_checkpoint
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.verifier import verify_consistency, verify_inclusion
from tests.console.consolekit import CCG, OTHER_CCG, SCHEME, Token, csrf, sign_in, submit

RECORD = f"/ccgs/{CCG}/schemes/{SCHEME}"
PAGE = f"/console/ccgs/{CCG}/{SCHEME}"


def api(
    client: FlaskClient, path: str, plaintext: str, headers: dict[str, str] | None = None
) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {plaintext}", **(headers or {})})


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, f"no #{element_id} on the page"
    return found.group(1).strip()


def history_as(client: FlaskClient, plaintext: str) -> list[dict[str, Any]]:
    """Sign in with this token; 06F's events as the API gives them to the same token."""
    sign_in(client, plaintext)
    answer = api(client, f"{RECORD}/history?limit=500", plaintext)
    assert answer.status_code == 200
    return list(json.loads(answer.data)["events"])


def chain(client: FlaskClient, token: Token) -> dict[str, Any]:
    board = token("board")
    answer = api(client, f"{RECORD}/determinations", board)
    assert answer.status_code == 200
    return dict(json.loads(answer.get_data(as_text=True)))


def test_root_leads_to_the_console_and_the_console_to_sign_in(client: FlaskClient) -> None:
    assert client.get("/").headers["Location"] == "/console/"
    assert client.get("/console/").headers["Location"] == "/console/sign-in"
    answer = client.get("/console/overview")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/console/sign-in?next=/console/overview"
    page = client.get("/console/sign-in")
    assert page.status_code == 200
    assert 'type="password"' in page.get_data(as_text=True)
    # Pages are never framed and load nothing from another origin.
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    # Every asset comes from the app itself.
    for asset in ("console.css", "console.js", "verify.js", "vendor/axe-core/LICENSE"):
        assert client.get(f"/console/static/{asset}").status_code == 200


def test_sign_in_sets_a_strict_httponly_cookie_then_sign_out_ends_the_session(
    client: FlaskClient, token: Token
) -> None:
    answer = sign_in(client, token("board"))
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("qp_console=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    assert client.get("/console/overview").status_code == 200

    # The API ignores the console's cookie: a bearer token is its only credential.
    assert client.get(f"{RECORD}/decision").status_code == 401

    out = client.post("/console/sign-out", data={"csrf_token": csrf(client, "/console/overview")})
    assert out.status_code == 303
    assert client.get("/console/overview").status_code == 302


def test_over_tls_the_cookie_is_secure_and_never_holds_the_token(
    client: FlaskClient, token: Token
) -> None:
    plaintext = token("auditor")
    page = client.get("/console/sign-in", base_url="https://localhost")
    field = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert field
    answer = client.post(
        "/console/sign-in",
        data={"token": plaintext, "csrf_token": field.group(1)},
        base_url="https://localhost",
    )
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie
    # The cookie is signed, not secret: the token inside is sealed, not merely encoded.
    value = cookie.split(";")[0].split("=", 1)[1].lstrip(".")
    payload = value.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    import zlib

    assert plaintext.encode() not in zlib.decompress(decoded)
    assert plaintext not in cookie


def test_a_wrong_token_is_refused_with_a_message_and_starts_no_session(
    client: FlaskClient,
) -> None:
    answer = sign_in(client, "qpl_not-a-token")
    assert answer.status_code == 401
    assert "That token is unknown or revoked" in answer.get_data(as_text=True)
    assert client.get("/console/overview").status_code == 302


def test_a_revoked_token_ends_the_console_session_at_once(
    console_app: Flask, client: FlaskClient
) -> None:
    store = console_app.extensions["qp_tokens"]
    record, plaintext = store.create("board", None)
    sign_in(client, plaintext)
    assert client.get("/console/overview").status_code == 200
    store.revoke(record.id)
    assert client.get("/console/overview").status_code == 302


def test_forms_without_the_session_csrf_token_are_refused_and_change_nothing(
    client: FlaskClient, token: Token
) -> None:
    refused = client.post("/console/sign-in", data={"token": token("board")})
    assert refused.status_code == 400
    assert "did not come from your console session" in refused.get_data(as_text=True)
    assert client.get("/console/overview").status_code == 302  # not signed in

    sign_in(client, token("board"))
    forged = client.post(f"{PAGE}/issue", data={"reason": "forged", "csrf_token": "guess"})
    assert forged.status_code == 400
    assert "Nothing was changed" in forged.get_data(as_text=True)
    assert chain(client, token)["issued"] == []


PAGES = {
    "overview": ("/console/overview", "/reports/decisions"),
    "decision": (PAGE, f"{RECORD}/decision"),
    "replay": (f"{PAGE}?position=10", f"{RECORD}/decision?position=10"),
    "event": (f"{PAGE}/events/1", f"{RECORD}/history"),
    "determinations": (f"{PAGE}/determinations", f"{RECORD}/determinations"),
    "diff": (f"{PAGE}/diff?from_position=10", f"{RECORD}/decision-diff?from_position=10"),
    "other ccg": (f"/console/ccgs/{OTHER_CCG}/{SCHEME}",
                  f"/ccgs/{OTHER_CCG}/schemes/{SCHEME}/decision"),
}  # fmt: skip
WHO = {
    "ccg": ("ccg", CCG),
    "ccg-other": ("ccg", OTHER_CCG),
    "area-team": ("area-team", "E39000015"),
    "board": ("board", None),
    "auditor": ("auditor", None),
    "reporter": ("reporter", None),
}


def test_every_page_obeys_the_api_role_rules(client: FlaskClient, token: Token) -> None:
    """Each role sees a page exactly when the API answers it the same question."""
    seen: dict[tuple[str, str], tuple[int, int]] = {}
    for who, (role, org) in WHO.items():
        plaintext = token(role, org)
        assert sign_in(client, plaintext).status_code == 303
        for name, (console_path, api_path) in PAGES.items():
            shown = client.get(console_path).status_code
            answered = api(client, api_path, plaintext).status_code
            seen[(who, name)] = (shown, answered)
    mismatched = {k: v for k, v in seen.items() if v[0] != v[1]}
    assert mismatched == {}
    # The rules the issue names, spelled out.
    assert seen[("reporter", "decision")][0] == 403
    assert seen[("reporter", "overview")][0] == 200
    assert seen[("ccg", "other ccg")][0] == 403
    assert seen[("ccg", "decision")][0] == 200
    assert seen[("ccg", "overview")][0] == 403
    assert seen[("area-team", "decision")][0] == 200
    sign_in(client, token("ccg", CCG))
    refused = client.get(f"/console/ccgs/{OTHER_CCG}/{SCHEME}")
    assert "not for CCG 00C" in refused.get_data(as_text=True)


def test_the_overview_totals_and_csv_are_the_reporting_apis(
    client: FlaskClient, token: Token
) -> None:
    reporter = token("reporter")
    sign_in(client, reporter)
    page = client.get("/console/overview").get_data(as_text=True)
    nation = json.loads(
        api(client, f"/reports/summaries?scheme={SCHEME}&group_by=nation", reporter).data
    )[0]
    assert text_of(page, "pot") == pounds(nation["maximum_pence"])
    assert text_of(page, "payable") == pounds(nation["payable_pence"])
    rows = json.loads(api(client, f"/reports/decisions?scheme={SCHEME}", reporter).data)
    assert text_of(page, "paid-nothing").startswith(
        f"{sum(1 for r in rows if r['payable_pence'] == 0)} of {len(rows)}"
    )
    # The region chart is drawn on the server, one bar pair per region, with a title.
    assert page.count('class="paid"') >= 2
    assert "<title" in page and "Payable and pot by region" in page

    # Filtered and sorted: the CSV has the API's columns and the same rows.
    region = rows[0]["region_code"]
    query = f"scheme={SCHEME}&region={region}&sort=-payable_pence"
    mine = client.get(f"/console/overview.csv?{query}")
    assert mine.headers["Content-Type"].startswith("text/csv")
    theirs = api(client, f"/reports/decisions?{query}", reporter, headers={"Accept": "text/csv"})
    assert mine.get_data(as_text=True) == theirs.get_data(as_text=True)
    table = list(csv.DictReader(io.StringIO(mine.get_data(as_text=True))))
    assert table and all(r["region_code"] == region for r in table)
    payable = [int(r["payable_pence"]) for r in table]
    assert payable == sorted(payable, reverse=True)
    # The table filters by name and sorts by a column link.
    narrowed = client.get("/console/overview?q=bedford").get_data(as_text=True)
    assert text_of(narrowed, "shown-count") == "1"
    assert 'aria-sort="descending"' in client.get("/console/overview?sort=-payable_pence").get_data(
        as_text=True
    )


def test_replay_shows_the_decision_apis_pounds_at_each_position(
    client: FlaskClient, token: Token
) -> None:
    ccg = token("ccg", CCG)
    history = history_as(client, ccg)
    positions = [history[len(history) // 3]["position"], history[-5]["position"], None]
    for position in positions:
        query = "" if position is None else f"?position={position}"
        page = client.get(f"{PAGE}{query}").get_data(as_text=True)
        document = json.loads(api(client, f"{RECORD}/decision{query}", ccg).data)
        assert text_of(page, "payable") == pounds(document["payable_pence"])
        assert text_of(page, "line-payable") == pounds(document["payable_pence"])
        assert text_of(page, "as-of-position") == str(document["position"])
        for component in document["components"]:
            assert pounds(component["earned_pence"]) in page
    # The timeline is an inline SVG step chart, each event a link to its page.
    page = client.get(PAGE).get_data(as_text=True)
    assert f'action="{PAGE}"' in page  # the replay form comes back to this page
    assert 'class="step"' in page
    assert page.count(f'href="{PAGE}/events/') >= len(history)
    # A position past the log's end is refused with the ledger's own words.
    late = client.get(f"{PAGE}?position=999999")
    assert late.status_code == 422 and "beyond the end of the log" in late.get_data(as_text=True)
    bad = client.get(f"{PAGE}?position=abc")
    assert bad.status_code == 400 and "whole number" in bad.get_data(as_text=True)


def test_replay_by_recorded_time_shows_the_decision_apis_pounds_and_the_position_it_resolved_to(
    client: FlaskClient, token: Token
) -> None:
    auditor = token("auditor")
    history = history_as(client, auditor)
    for event in (history[len(history) // 4], history[len(history) // 2]):
        instant = event["recorded_at"]
        query = urlencode({"as_of": instant})
        answer = client.get(f"{PAGE}?{query}")
        assert answer.status_code == 200
        page = answer.get_data(as_text=True)
        document = json.loads(api(client, f"{RECORD}/decision?{query}", auditor).data)
        assert document["position"] == event["position"]  # the last event recorded by then
        assert text_of(page, "payable") == pounds(document["payable_pence"])
        assert text_of(page, "as-of-position") == str(event["position"])
        assert text_of(page, "as-of-time") == instant
        link = urlsplit(html.unescape(text_of(page, "share-link")))
        assert (link.path, parse_qs(link.query)) == (PAGE, {"as_of": [instant]})
        assert f'value="{instant[:19]}"' in page  # the picker starts at the instant shown
    # A time the ledger has not reached, or not a time at all: the ledger's words, 422.
    for wrong, message in (
        ("2999-01-01T00:00:00Z", "is in the future"),
        ("last tuesday", "is not an ISO-8601 date-time"),
    ):
        query = urlencode({"as_of": wrong})
        refused = client.get(f"{PAGE}?{query}")
        assert refused.status_code == 422
        assert message in refused.get_data(as_text=True)
        assert api(client, f"{RECORD}/decision?{query}", auditor).status_code == 422


def test_an_event_page_says_who_when_why_and_where_in_the_log(
    client: FlaskClient, token: Token
) -> None:
    auditor = token("auditor")
    history = history_as(client, auditor)
    chosen = history[2]
    page = client.get(f"{PAGE}/events/{chosen['position']}").get_data(as_text=True)
    assert chosen["type"] in page and chosen["actor"] in page
    assert chosen["recorded_at"] in page and chosen["id"] in page
    other = json.loads(
        api(client, f"/ccgs/{OTHER_CCG}/schemes/{SCHEME}/history?limit=1", auditor).data
    )["events"][0]
    # Another CCG's event is not an event of this record.
    assert client.get(f"{PAGE}/events/{other['position']}").status_code == 404


def test_the_appeal_story_from_the_page(client: FlaskClient, token: Token) -> None:
    board, ccg = token("board"), token("ccg", CCG)
    sign_in(client, board)
    issued = submit(client, "issue", reason="y")
    assert issued.status_code == 303
    first = chain(client, token)["issued"][0]["issue_id"]

    sign_in(client, ccg)
    # A refused form says why and stores nothing.
    empty = submit(client, "appeals", issue_id=first)
    assert empty.status_code == 422
    assert "grounds" in empty.get_data(as_text=True)
    assert chain(client, token)["appeals"] == []
    # A CCG may not issue decisions: the API's refusal, word for word.
    cannot = submit(client, "issue")
    assert cannot.status_code == 403
    assert "A ccg token may not issue decisions" in cannot.get_data(as_text=True)

    lodged = submit(client, "appeals", issue_id=first, grounds="Admissions miscounted")
    assert lodged.status_code == 303
    appeal_id = chain(client, token)["appeals"][0]["appeal_id"]
    digest = hashlib.sha256(b"trust letter").hexdigest()
    added = submit(
        client,
        "evidence",
        appeal_id=appeal_id,
        text="The trust's letter",
        sha256=digest,
        size="12",
        file_name="letter.pdf",
        media_type="application/pdf",
    )
    assert added.status_code == 303
    assert digest in client.get(f"{PAGE}/determinations").get_data(as_text=True)

    sign_in(client, board)
    remedy = {
        "type": "measure_submitted",
        "measure": "avoidable-emergency-admissions",
        "criterion": "admissions-rate",
        "period": "2013-14",
        "value": 1600.0,
    }
    determined = submit(
        client,
        "determination",
        appeal_id=appeal_id,
        outcome="upheld",
        determination="The count included a case from another CCG.",
        remedy=json.dumps(remedy),
    )
    assert determined.status_code == 303, determined.get_data(as_text=True)
    revised = submit(client, "issue", appeal_id=appeal_id, reason="revised")
    assert revised.status_code == 303
    story = chain(client, token)
    assert [i["appeal_id"] for i in story["issued"]] == [None, appeal_id]
    assert story["appeals"][0]["status"] == "upheld"
    assert story["appeals"][0]["evidence"][0]["attachments"][0]["sha256"] == digest
    second = story["issued"][1]["issue_id"]
    compared = client.get(f"{PAGE}/diff?from_issue={first}&to_issue={second}")
    page = compared.get_data(as_text=True)
    assert compared.status_code == 200 and "admissions-rate" in page
    change = story["issued"][1]["payable_pence"] - story["issued"][0]["payable_pence"]
    assert change > 0
    assert text_of(page, "payable-change") == pounds(change)


def test_the_verification_bundle_holds_proofs_the_python_verifier_accepts(
    client: FlaskClient, token: Token
) -> None:
    """The same bundle the browser checks (tests/console/test_console_browser.py)."""
    sign_in(client, token("board"))
    submit(client, "issue")
    issue = chain(client, token)["issued"][0]
    letter = client.get(f"{PAGE}/issues/{issue['issue_id']}")
    assert letter.status_code == 200 and "Verify in this browser" in letter.get_data(as_text=True)
    bundle = json.loads(client.get(f"{PAGE}/issues/{issue['issue_id']}/bundle.json").data)
    checkpoint = verify_checkpoint(
        bundle["checkpoint"]["checkpoint"], bundle["checkpoint"]["verifier_key"]
    )
    consistency = bundle["consistency"]
    issued_root = bytes.fromhex(issue["checkpoint"]["root_hash"].removeprefix("sha256:"))
    assert verify_consistency(
        issue["checkpoint"]["tree_size"],
        checkpoint.size,
        [base64.b64decode(h) for h in consistency["consistency_path"]],
        issued_root,
        checkpoint.root,
    )
    assert len(bundle["events"]) > 10
    for event in bundle["events"]:
        proof = event["proof"]
        assert verify_inclusion(
            leaf_hash(base64.b64decode(event["leaf"]["leaf"])),
            proof["leaf_index"],
            checkpoint.size,
            [base64.b64decode(h) for h in proof["inclusion_path"]],
            checkpoint.root,
        )
    # A reporter reaches neither the letter nor its proofs.
    sign_in(client, token("reporter"))
    assert client.get(f"{PAGE}/issues/{issue['issue_id']}/bundle.json").status_code == 403


def test_a_signer_that_refuses_is_a_503_page_not_a_signed_fork(
    console_app: Flask, client: FlaskClient, token: Token
) -> None:
    """The console signs through the same guard as /log: a refusal is 503, never a checkpoint."""
    from api.views.integrity import signer
    from ledger.integrity.signed_head import state_file

    sign_in(client, token("board"))
    submit(client, "issue")
    issue = chain(client, token)["issued"][0]
    assert client.get(f"{PAGE}/issues/{issue['issue_id']}/bundle.json").status_code == 200
    with console_app.app_context():
        kept = state_file(signer().key_file)
    kept.write_text("not the checkpoint this key signed\n")  # damaged: what is a fork now?
    refused = client.get(f"{PAGE}/issues/{issue['issue_id']}/bundle.json")
    assert refused.status_code == 503
    assert "refusing to sign" in refused.get_data(as_text=True)
