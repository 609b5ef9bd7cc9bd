"""Erasing a reason (UK GDPR) leaves every proof, bundle and decision intact.

On SQLite and PostgreSQL: a demo year for two CCGs, a decision issued, a
checkpoint saved and a bundle exported; then a reason is erased, with the
installed ``qp-ledger`` as a user runs it. Afterwards ``verify``, ``verify
--checkpoint`` with the older checkpoint, ``bundle verify`` of the older
bundle and ``reproduce`` all pass, the decision is the same, history shows
the reason as erased (by whom, when, why), and the words are in no table.
Tampering with the words' table outside the ledger is named by ``verify``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text

from ledger.service.application import QPLedger
from tests.integration.bundlekit import SCHEME, issued_records, qp, verifier_key

WHY = "the author asked for it to be erased"


def history(url: str, ccg: str) -> list[dict[str, Any]]:
    ledger = QPLedger(url)
    try:
        return ledger.history(ccg, SCHEME)
    finally:
        ledger.close()


def decision(url: str, ccg: str, position: int | None = None) -> dict[str, Any]:
    ledger = QPLedger(url)
    try:
        return ledger.decision(ccg, SCHEME, position=position).document
    finally:
        ledger.close()


def everything_stored(url: str) -> bytes:
    """Every value of every table, as bytes, to look for words in."""
    engine = create_engine(url)
    try:
        out = []
        with engine.connect() as conn:
            for name in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                    for value in row:
                        if isinstance(value, memoryview):
                            value = value.tobytes()
                        out.append(value if isinstance(value, bytes) else str(value).encode())
        return b"\n".join(out)
    finally:
        engine.dispose()


def a_reason(url: str, ccg: str) -> dict[str, Any]:
    """An event of the record with a reason only it has (so its absence means erased)."""
    events = history(url, ccg)
    counts: dict[str, int] = {}
    for e in events:
        if e["reason"]:
            counts[e["reason"]] = counts.get(e["reason"], 0) + 1
    return next(e for e in events if e["reason"] and counts[e["reason"]] == 1)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return tmp_path / "signing.key"


def test_erasing_a_reason_keeps_every_proof(database_url: str, key: Path, tmp_path: Path) -> None:
    (ccg, issue_id), _ = issued_records(database_url)
    # A reason of the user's own, written now, unique in the whole database.
    words = "Dr Jane Example said the figure was wrong"
    ledger = QPLedger(database_url)
    try:
        receipt = ledger.execute(
            {
                "type": "population_recorded",
                "ccg": ccg,
                "scheme": SCHEME,
                "population": 400_000,
                "source": "ONS",
                "reason": words,
            },
            actor="area-team#test",
        )
    finally:
        ledger.close()
    assert words.encode() in everything_stored(database_url)
    checkpoint, bundle = tmp_path / "checkpoint.txt", tmp_path / "bundle.json"
    assert qp("checkpoint", "--out", str(checkpoint), url=database_url, key=key).returncode == 0
    made = qp("bundle", "export", ccg, issue_id, "--scheme", SCHEME, "--out", str(bundle),
              url=database_url, key=key)  # fmt: skip
    assert made.returncode == 0, made.stderr
    before = decision(database_url, ccg)
    at_receipt = decision(database_url, ccg, receipt.position)

    erased = qp("erase", receipt.event_id, "--field", "reason", "--why", WHY,
                "--actor", "board#dpo", "--json", url=database_url, key=key)  # fmt: skip
    assert erased.returncode == 0, erased.stderr
    answer = json.loads(erased.stdout)
    assert answer["event_id"] == receipt.event_id and answer["erased_by"] == "board#dpo"

    stored = everything_stored(database_url)
    assert words.encode() not in stored
    (event,) = [e for e in history(database_url, ccg) if e["id"] == receipt.event_id]
    assert event["reason"] is None
    assert event["erased"] == {"reason": {"by": "board#dpo", "at": answer["erased_at"], "why": WHY}}
    assert event["fields"] == {"population": 400_000, "source": "ONS"}
    # The log moved on (the erasure is an event), the record did not: same decision.
    now = decision(database_url, ccg)
    assert now["position"] > before["position"]
    assert {k: v for k, v in now.items() if k not in ("position", "as_of", "log")} == {
        k: v for k, v in before.items() if k not in ("position", "as_of", "log")
    }
    assert decision(database_url, ccg, receipt.position) == at_receipt

    verified = qp("verify", url=database_url, key=key)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    older = qp("verify", "--checkpoint", str(checkpoint), url=database_url, key=key)
    assert older.returncode == 0, older.stdout + older.stderr
    (tmp_path / "verifier.key").write_text(verifier_key(key) + "\n")
    offline = qp("bundle", "verify", str(bundle), "--key", f"@{tmp_path / 'verifier.key'}")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    reproduced = qp("reproduce", ccg, issue_id, "--scheme", SCHEME, url=database_url, key=key)
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr

    again = qp("erase", receipt.event_id, "--field", "reason", "--why", WHY,
               url=database_url, key=key)  # fmt: skip
    assert again.returncode == 1 and "already erased" in again.stderr


REFUSED = {
    "money": (["--field", "population", "--why", WHY], "cannot be erased: only words"),
    "no-why": (["--field", "reason", "--why", " "], "why: say why"),
    "bad-id": (["--field", "reason", "--why", WHY], "is not an event id"),
    "unknown": (["--field", "reason", "--why", WHY], "no stored reason to erase"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_erasures_change_nothing(sqlite_url: str, case: str) -> None:
    issued_records(sqlite_url, ccgs=1, later=False)
    target = a_reason(sqlite_url, "00C")
    event_id = {"bad-id": "nonsense", "unknown": "0" * 8 + "-0000-0000-0000-" + "0" * 12}.get(
        case, target["id"]
    )
    before = everything_stored(sqlite_url)
    args, message = REFUSED[case]
    refused = qp("erase", event_id, *args, url=sqlite_url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert message in refused.stderr
    assert everything_stored(sqlite_url) == before


class LegacyLedger(QPLedger):
    """The ledger as it stored events before words were sealed: plaintext payloads."""

    name = "QPLedger"  # the same tables

    def construct_mapper(self) -> Any:
        from eventsourcing.persistence import Mapper

        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=Mapper)


def test_words_stored_before_sealing_stay_readable_and_cannot_be_erased(sqlite_url: str) -> None:
    old = LegacyLedger(sqlite_url)
    try:
        receipt = old.execute(
            {"type": "population_recorded", "ccg": "06F", "scheme": SCHEME,
             "population": 1, "source": "ONS", "reason": "an old reason"},
            actor="area-team#test",
        )  # fmt: skip
    finally:
        old.close()
    (event,) = [e for e in history(sqlite_url, "06F") if e["id"] == receipt.event_id]
    assert event["reason"] == "an old reason"
    refused = qp("erase", receipt.event_id, "--field", "reason", "--why", WHY, url=sqlite_url)
    assert refused.returncode == 1 and "recorded before words were sealed" in refused.stderr
    assert qp("verify", url=sqlite_url).returncode == 0


def _sealed(url: str) -> Any:
    ledger = QPLedger(url)
    try:
        return ledger.store.sealed
    finally:
        ledger.close()


TAMPERING = {
    "edit": "UPDATE {t} SET text = 'something else' WHERE originator_version = "
    "(SELECT MIN(originator_version) FROM {t})",
    "delete": "DELETE FROM {t} WHERE originator_version = "
    "(SELECT MIN(originator_version) FROM {t})",
    "insert": "INSERT INTO {t} SELECT originator_id, originator_version + 100000, field, "
    "'00000000-0000-0000-0000-000000000001', digest, salt, text FROM {t} "
    "WHERE originator_version = (SELECT MIN(originator_version) FROM {t})",
    # The first row takes the last row's salt (MAX(salt) was the first row's own one
    # time in 24, and then nothing changed).
    "swap": "UPDATE {t} SET salt = (SELECT salt FROM {t} WHERE originator_version = "
    "(SELECT MAX(originator_version) FROM {t})) WHERE originator_version = "
    "(SELECT MIN(originator_version) FROM {t})",
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampered_words_are_named_by_verify(database_url: str, kind: str) -> None:
    issued_records(database_url, ccgs=1, later=False)
    assert qp("verify", url=database_url).returncode == 0
    table = _sealed(database_url)
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(TAMPERING[kind].format(t=f'"{table.name}"')))
            assert conn.execute(select(table)).first() is not None
    finally:
        engine.dispose()
    result = qp("verify", url=database_url)
    assert result.returncode == 1, result.stdout
    assert f"{table.name} row (stream=" in result.stdout + result.stderr
    if kind == "delete":
        with pytest.raises(Exception, match="missing from the sealed-text table"):
            history(database_url, "00C")
