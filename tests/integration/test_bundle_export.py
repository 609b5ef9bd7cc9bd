"""Evidence bundles end to end, on SQLite and PostgreSQL (issue 11 item 3).

A decision issued on a real database is exported with ``qp-ledger bundle
export`` and checked with ``qp-ledger bundle verify`` in a process whose
database URL points nowhere: it must need nothing but the file. A decision
issued from a tampered snapshot — which ``verify`` and ``reproduce`` did not
notice (issue 11, "what was seen") — fails its bundle, naming the fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Table, select

from ledger.integrity.snapshot_mac import snapshot_mac
from ledger.service.application import QPLedger
from tests.integration.bundlekit import NOWHERE, SCHEME, export, issued_records, qp, verifier_key
from tests.ledgerkit import rewrite_event


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return tmp_path / "signing.key"


def test_a_bundle_verifies_with_no_database(database_url: str, key: Path, tmp_path: Path) -> None:
    (ccg, issue_id), _ = issued_records(database_url)
    out = tmp_path / "bundle.json"
    made = qp(
        "bundle", "export", ccg, issue_id, "--scheme", SCHEME, "--out", str(out),
        url=database_url, key=key,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"wrote {out}: {issue_id}" in made.stdout
    bundle = json.loads(out.read_text())
    assert bundle["format"] == "qp-ledger/bundle/v1"
    assert bundle["record"]["next_event"] is not None  # the record went on after the issue
    versions = [e["leaf_index"] for e in bundle["record"]["events"]]
    assert versions == sorted(versions)

    (tmp_path / "verifier.key").write_text(verifier_key(key) + "\n")
    checked = qp("bundle", "verify", str(out), "--key", f"@{tmp_path / 'verifier.key'}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"VERIFIED: evidence bundle {out}\n")
    assert "identical field by field" in checked.stdout
    assert f"{len(versions)} events of {ccg} in {SCHEME}" in checked.stdout
    assert "WARNING" not in checked.stdout

    self_checked = qp("bundle", "verify", str(out), "--json")
    assert self_checked.returncode == 0, self_checked.stderr
    report = json.loads(self_checked.stdout)
    assert report["verified"] is True and report["problems"] == []
    notes = report["notes"]
    assert any("proves only that the bundle is consistent with itself" in n for n in notes)


@pytest.mark.parametrize("with_the_key", [False, True], ids=["edited", "forged-with-key"])
def test_a_tampered_snapshot_is_never_issued_unnoticed(
    database_url: str, key: Path, tmp_path: Path, with_the_key: bool
) -> None:
    """The snapshot edit of issue 11 (a threshold's target made 1).

    Edited in the database only, the snapshot's code no longer matches: it is
    not used, the decision issued is the true one and its bundle verifies.
    Forged by someone who also holds the snapshot key, it is used and the
    decision issued is wrong, but its bundle re-runs the engine on the events
    and names the field.
    """
    issued_records(database_url, ccgs=1, later=False)
    ledger = QPLedger(database_url)
    try:
        assert ledger.snapshots is not None
        snapshots: Table = ledger.snapshots.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        macs = ledger.snapshots.macs  # type: ignore[attr-defined]
        with ledger.store.datastore.engine.begin() as conn:
            oid, version, topic, state = conn.execute(
                select(
                    snapshots.c.originator_id,
                    snapshots.c.originator_version,
                    snapshots.c.topic,
                    snapshots.c.state,
                )
            ).first()  # type: ignore[misc]
            document = json.loads(bytes(state))
            thresholds = document["state"]["thresholds"]
            threshold = next(iter(thresholds.values()))
            threshold["target"] = {"_type_": "decimal_str", "_data_": "1"}
            edited = json.dumps(document).encode()
            conn.execute(
                snapshots.update()
                .where(snapshots.c.originator_id == oid, snapshots.c.originator_version == version)
                .values(state=edited)
            )
            if with_the_key:
                c = macs.table.c
                conn.execute(
                    macs.table.update()
                    .where(c.originator_id == str(oid), c.originator_version == version)
                    .values(mac=snapshot_mac(macs.key.get(), oid, version, topic, edited))
                )
        ccg = ledger.repository.get(oid).ccg
        issue_id = ledger.determinations.issue(ccg, SCHEME, actor="board#test", force=True)[
            "issue_id"
        ]
    finally:
        ledger.close()
    out = tmp_path / "tampered.json"
    bundle = export(database_url, key, ccg, issue_id)
    out.write_text(json.dumps(bundle))
    checked = qp("bundle", "verify", str(out), url=NOWHERE)
    if not with_the_key:
        assert checked.returncode == 0, checked.stdout + checked.stderr
        # verified: the issued decision is, field by field, the engine's re-run on the events
        assert "NOT VERIFIED" not in checked.stdout
        return
    assert checked.returncode == 1
    assert "NOT VERIFIED" in checked.stdout
    assert "FAILED: decision field components[" in checked.stdout
    assert ".target: issued 1, the engine re-run gives" in checked.stdout
    assert checked.stderr.startswith(f"error: {out} NOT VERIFIED: decision field")


def test_export_refusals_write_nothing(database_url: str, key: Path, tmp_path: Path) -> None:
    (ccg, issue_id), _ = issued_records(database_url, later=False)
    out = tmp_path / "bundle.json"
    args = ("bundle", "export", ccg, f"{issue_id}9", "--scheme", SCHEME, "--out", str(out))
    missing = qp(*args, url=database_url, key=key)
    assert missing.returncode == 1
    expected = f"error: issue_id: no decision '{issue_id}9' was issued to {ccg} in {SCHEME}\n"
    assert missing.stderr == expected
    assert not out.exists() and not key.exists()

    made = qp(*args[:3], issue_id, *args[4:], url=database_url, key=key)
    assert made.returncode == 0, made.stderr
    out.unlink()
    ledger = QPLedger(database_url)
    try:  # rewrite an event and rebuild its hashes: the signer refuses, so no bundle
        rewrite_event(ledger, 5)
    finally:
        ledger.close()
    refused = qp(*args[:3], issue_id, *args[4:], url=database_url, key=key)
    assert refused.returncode == 1
    assert "error: REFUSED to sign a checkpoint" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists()
