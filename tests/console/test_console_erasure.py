"""The determinations page after an appeal's words were erased, on SQLite and PostgreSQL.

The page must show no more than the API: the erased grounds, evidence text
and determination are gone from it, and in their place who erased them,
when and why, as the event page shows an erased reason.
"""

from __future__ import annotations

import html

from flask import Flask
from flask.testing import FlaskClient

from tests.console.consolekit import CCG, SCHEME, Token, apikit_helpers, sign_in, submit

_, ledger_of, _, _ = apikit_helpers()

WORDS = {
    "grounds": "Dr Ann Appellant says the count is wrong",
    "text": "A letter from Mr Bob Witness",
    "determination": "The Board finds Dr Ann Appellant misinformed",
}
WHY = "the author asked for it to be erased"


def test_erased_appeal_words_leave_the_page(
    console_app: Flask, client: FlaskClient, token: Token
) -> None:
    board, ccg = token("board"), token("ccg", CCG)
    sign_in(client, board)
    assert submit(client, "issue").status_code == 303
    desk = ledger_of(console_app).determinations
    issue_id = desk.issued(CCG, SCHEME)[0]["issue_id"]
    sign_in(client, ccg)
    assert submit(client, "appeals", issue_id=issue_id, grounds=WORDS["grounds"]).status_code == 303
    appeal_id = desk.appeals(CCG, SCHEME)[0]["appeal_id"]
    added = submit(client, "evidence", appeal_id=appeal_id, text=WORDS["text"])
    assert added.status_code == 303, added.get_data(as_text=True)
    sign_in(client, board)
    determined = submit(
        client,
        "determination",
        appeal_id=appeal_id,
        outcome="dismissed",
        determination=WORDS["determination"],
    )
    assert determined.status_code == 303, determined.get_data(as_text=True)
    page = f"/console/ccgs/{CCG}/{SCHEME}/determinations"
    before = html.unescape(client.get(page).get_data(as_text=True))
    assert all(words in before for words in WORDS.values())
    assert "Erased by" not in before

    appeal = desk.appeal(CCG, SCHEME, appeal_id)
    events = {
        "grounds": appeal["lodged_event_id"],
        "text": appeal["evidence"][0]["event_id"],
        "determination": appeal["determined_event_id"],
    }
    for field, event_id in events.items():
        ledger_of(console_app).erase(event_id, field, WHY, "board:dpo")

    after = html.unescape(client.get(page).get_data(as_text=True))
    assert not any(words in after for words in WORDS.values())
    assert after.count("Erased by board:dpo on") == 3 and after.count(WHY) == 3
