"""Erasing an appeal's words (UK GDPR): grounds, evidence text, the Board's determination.

On SQLite and PostgreSQL: a decision issued, an appeal lodged against it,
evidence added (enough for the determinations stream to be snapshotted from
the aggregate in hand) and the appeal determined; then each of the three
fields is erased with the installed ``qp-ledger``. Afterwards the words are
in no table (nor ever were in a snapshot), every appeal read shows ``null``
and who erased them, when and why, ``verify`` passes, and the issued
decision reproduces identically. Refusals change nothing; words deleted in
SQL are named by ``verify``; words stored before sealing stay readable.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

import ledger.service.appeals as appeals_module
from ledger.domain.determinations import determinations_id
from ledger.service.application import QPLedger
from tests.integration.bundlekit import SCHEME, issued_records, qp
from tests.integration.test_erasure import WHY, LegacyLedger, everything_stored

GROUNDS = "Dr Ann Appellant says the flag concerns St Elsewhere"
EVIDENCE = "A letter from Mr Bob Witness of 3 Acacia Avenue"
DETERMINATION = "The Board finds Dr Ann Appellant was misinformed"
#: Evidence added after the first, so the determinations stream passes version 20,
#: where a snapshot is taken from the aggregate just saved (ledger/service/snapshotting.py).
MORE_EVIDENCE = 17


def appealed(url: str, more: int = MORE_EVIDENCE) -> tuple[str, str, dict[str, Any]]:
    """(ccg, issue id, the appeal): issued, appealed, evidence added, determined."""
    ((ccg, issue_id),) = issued_records(url, ccgs=1, later=False)
    ledger = QPLedger(url)
    try:
        desk = ledger.determinations
        lodged = desk.lodge_appeal(ccg, SCHEME, issue_id, grounds=GROUNDS, actor=f"ccg:{ccg}")
        appeal_id = lodged["appeal_id"]
        desk.add_evidence(ccg, SCHEME, appeal_id, text=EVIDENCE, actor=f"ccg:{ccg}")
        for n in range(more):
            desk.add_evidence(ccg, SCHEME, appeal_id, text=f"page {n}", actor=f"ccg:{ccg}")
        appeal = desk.determine_appeal(
            ccg, SCHEME, appeal_id, outcome="dismissed", determination=DETERMINATION,
            actor="board#test",
        )  # fmt: skip
    finally:
        ledger.close()
    return ccg, issue_id, appeal


def appeal_now(url: str, ccg: str, appeal_id: str) -> dict[str, Any]:
    ledger = QPLedger(url)
    try:
        return ledger.determinations.appeal(ccg, SCHEME, appeal_id)
    finally:
        ledger.close()


def snapshots(url: str) -> bytes:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT state FROM qpledger_snapshots")).all()
        return b"\n".join(bytes(r[0]) for r in rows)
    finally:
        engine.dispose()


def test_erasing_an_appeals_words_keeps_every_proof(database_url: str) -> None:
    ccg, issue_id, appeal = appealed(database_url)
    assert (appeal["grounds"], appeal["determination"]) == (GROUNDS, DETERMINATION)
    assert appeal["evidence"][0]["text"] == EVIDENCE and "erased" not in appeal
    stored = everything_stored(database_url)
    for words in (GROUNDS, EVIDENCE, DETERMINATION):
        assert stored.count(words.encode()) == 1, words  # the sealed-text row only
    # The snapshot taken at version 20 (from the desk in hand) holds digests, not words.
    taken = snapshots(database_url)
    assert b"sealed_text" in taken and EVIDENCE.encode() not in taken
    assert GROUNDS.encode() not in taken
    erased: dict[str, dict[str, Any]] = {}
    targets = {
        "grounds": appeal["lodged_event_id"],
        "text": appeal["evidence"][0]["event_id"],
        "determination": appeal["determined_event_id"],
    }
    for field, event in targets.items():
        done = qp("erase", event, "--field", field, "--why", WHY, "--actor", "board#dpo",
                  "--json", url=database_url)  # fmt: skip
        assert done.returncode == 0, done.stderr
        erased[field] = json.loads(done.stdout)

    stored = everything_stored(database_url)
    for words in (GROUNDS, EVIDENCE, DETERMINATION):
        assert words.encode() not in stored, words
    now = appeal_now(database_url, ccg, appeal["appeal_id"])
    assert now["grounds"] is None and now["determination"] is None
    assert now["erased"] == {
        f: {"by": "board#dpo", "at": erased[f]["erased_at"], "why": WHY}
        for f in ("grounds", "determination")
    }
    first, second = now["evidence"][:2]
    assert first["text"] is None and second["text"] == "page 0" and "erased" not in second
    assert first["erased"] == {
        "text": {"by": "board#dpo", "at": erased["text"]["erased_at"], "why": WHY}
    }
    words = ("grounds", "determination", "erased", "evidence")
    assert {k: v for k, v in now.items() if k not in words} == {
        k: v for k, v in appeal.items() if k not in words
    }
    assert [{**e, "text": None} for e in appeal["evidence"][:1]] == [
        {k: v for k, v in first.items() if k != "erased"}
    ]
    # The command line's reads say the same.
    chain = qp("issued", ccg, "--scheme", SCHEME, "--json", url=database_url)
    assert chain.returncode == 0, chain.stderr
    assert json.loads(chain.stdout)["appeals"] == [now]

    verified = qp("verify", url=database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reproduced = qp("reproduce", ccg, issue_id, "--scheme", SCHEME, "--json", url=database_url)
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    assert json.loads(reproduced.stdout)["result"] == "identical"

    before = everything_stored(database_url)
    again = qp("erase", targets["text"], "--field", "text", "--why", WHY, url=database_url)
    assert again.returncode == 1 and "already erased" in again.stderr
    assert everything_stored(database_url) == before


REFUSED = {
    "money": ("outcome", "determination", "cannot be erased: only words"),
    "unknown-field": ("colour", "grounds", "(reason, grounds, text, determination)"),
    "other-event's-field": ("text", "grounds", "no stored text to erase"),
    "no-why": ("grounds", "grounds", "why: say why"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_erasures_of_an_appeal_change_nothing(sqlite_url: str, case: str) -> None:
    ccg, _, appeal = appealed(sqlite_url, more=0)
    field, of, message = REFUSED[case]
    event = appeal["lodged_event_id"] if of == "grounds" else appeal["determined_event_id"]
    before = everything_stored(sqlite_url)
    refused = qp("erase", event, "--field", field, "--why", " " if case == "no-why" else WHY,
                 url=sqlite_url)  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert message in refused.stderr
    assert everything_stored(sqlite_url) == before
    assert appeal_now(sqlite_url, ccg, appeal["appeal_id"]) == appeal


def test_deleted_grounds_are_named_by_verify(database_url: str) -> None:
    ccg, _, appeal = appealed(database_url)
    stream = str(determinations_id(ccg, SCHEME))
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            gone = conn.execute(
                text("DELETE FROM qpledger_sealed_text WHERE field = 'grounds'")
            ).rowcount
    finally:
        engine.dispose()
    assert gone == 1
    result = qp("verify", url=database_url)
    assert result.returncode == 1, result.stdout
    assert f"qpledger_sealed_text row (stream={stream}, version=" in result.stdout + result.stderr
    with pytest.raises(Exception, match="missing from the sealed-text table"):
        appeal_now(database_url, ccg, appeal["appeal_id"])


def test_appeal_words_stored_before_sealing_stay_readable(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ((ccg, issue_id),) = issued_records(sqlite_url, ccgs=1, later=False)
    old = LegacyLedger(sqlite_url)
    try:
        with monkeypatch.context() as m:
            m.setattr(appeals_module, "sealed_words", lambda words: words)  # as before sealing
            lodged = old.determinations.lodge_appeal(
                ccg, SCHEME, issue_id, grounds="old grounds", actor=f"ccg:{ccg}"
            )
    finally:
        old.close()
    assert appeal_now(sqlite_url, ccg, lodged["appeal_id"])["grounds"] == "old grounds"
    refused = qp("erase", lodged["lodged_event_id"], "--field", "grounds", "--why", WHY,
                 url=sqlite_url)  # fmt: skip
    assert refused.returncode == 1 and "recorded before words were sealed" in refused.stderr
    assert qp("verify", url=sqlite_url).returncode == 0
