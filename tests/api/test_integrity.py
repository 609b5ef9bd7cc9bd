"""The tamper-evident log over HTTP (issue 5), on SQLite and PostgreSQL.

Everything the API hands out is checked the way an auditor would: with the
pure verifier (``ledger.integrity.verifier``), the published key and nothing
else. Forged answers (bits flipped, paths emptied, extended or cut, sizes
changed) are refused by the verifier; bad requests (unknown positions, sizes
beyond the log, sizes out of order, junk) get problem+json 404/422, never a
500; roles are checked pair by pair in test_roles.py, the per-event
scoping here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from flask import Flask
from flask.testing import FlaskClient

from ledger.integrity.checkpoint import Checkpoint, verify_checkpoint
from ledger.integrity.leaf import decode_leaf
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.verifier import (
    ProofError,
    load_consistency_proof,
    load_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from tests.api.apikit import (
    CCG,
    OTHER_CCG,
    SCHEME,
    build,
    build_signing,
    command,
    headers_factory,
    ledger_of,
    until_closed,
)

ORIGIN = "qp-ledger.test/api"


@pytest.fixture
def log_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app whose signing key lives in the test's own directory."""
    yield from until_closed(build_signing(database_url, tmp_path, ORIGIN))


@pytest.fixture
def client(log_app: Flask) -> FlaskClient:
    return log_app.test_client()


@pytest.fixture
def auditor(log_app: Flask) -> dict[str, str]:
    return headers_factory(log_app)("auditor")


def record(app: Flask, ccg: str = CCG, n: int = 3) -> list[int]:
    """``n`` population events for ``ccg`` (the first also opens its record); their positions."""
    ledger = ledger_of(app)
    return [
        ledger.execute(
            command("population_recorded", ccg, population=1000 + i, source="ONS"),
            actor="board#test",
        ).position
        for i in range(n)
    ]


def get(client: FlaskClient, url: str, headers: dict[str, str]) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))


def hashes(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def latest(client: FlaskClient, headers: dict[str, str]) -> Checkpoint:
    """Today's checkpoint, checked against the published key, as an auditor would."""
    key = get(client, "/log/key", headers)["verifier_key"]
    note = client.get("/log/checkpoint", headers=headers).get_data(as_text=True)
    return verify_checkpoint(note, key)


def refused(check: Any, *args: Any) -> None:
    """A forged proof is refused: ``False``, or ProofError saying why — nothing else."""
    with contextlib.suppress(ProofError):
        assert not check(*args)


def test_the_checkpoint_is_signed_by_the_published_key(
    log_app: Flask, client: FlaskClient, auditor: dict[str, str], tmp_path: Path, caplog: Any
) -> None:
    record(log_app)
    with caplog.at_level(logging.WARNING, logger="api.views.integrity"):
        note = client.get("/log/checkpoint", headers=auditor)
    assert note.status_code == 200
    assert note.mimetype == "text/plain"
    key = get(client, "/log/key", auditor)
    assert key["origin"] == ORIGIN and key["algorithm"] == "Ed25519"
    # The key was made on first use, private to its owner, and the log says where.
    key_file = tmp_path / "signing.key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert str(key_file) in caplog.text and key["verifier_key"] in caplog.text
    checkpoint = verify_checkpoint(note.get_data(as_text=True), key["verifier_key"])
    document = get(client, "/log/checkpoint.json", auditor)
    assert document["checkpoint"] == note.get_data(as_text=True)  # deterministic signatures
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, ledger_of(log_app).max_position())
    assert base64.b64decode(document["root_hash"]) == checkpoint.root
    root = "sha256:" + checkpoint.root.hex()
    assert document["log"] == {"tree_size": checkpoint.size, "root_hash": root}
    # A decision points at exactly this log (issue item 5).
    decision = get(client, f"/ccgs/{CCG}/schemes/{SCHEME}/decision", auditor)
    assert decision["log"] == document["log"]


def test_every_event_is_proven_in_the_checkpointed_tree(
    log_app: Flask, client: FlaskClient, auditor: dict[str, str]
) -> None:
    positions = record(log_app, CCG, 3) + record(log_app, OTHER_CCG, 2)
    checkpoint = latest(client, auditor)
    history = {e["position"]: e for e in ledger_of(log_app).history(CCG, SCHEME)}
    for position in positions:
        leaf = get(client, f"/log/events/{position}/leaf", auditor)
        data = base64.b64decode(leaf["leaf"])
        assert base64.b64decode(leaf["leaf_hash"]) == leaf_hash(data)
        decoded = decode_leaf(data)
        assert decoded.position == leaf["fields"]["position"] == position
        if position in history:
            assert decoded.version == history[position]["version"]
        url = f"/log/events/{position}/inclusion?tree_size={checkpoint.size}"
        index, size, path = load_inclusion_proof(get(client, url, auditor))
        assert (index, size) == (leaf["leaf_index"], checkpoint.size)
        assert verify_inclusion(leaf_hash(data), index, size, path, checkpoint.root)
    # Inclusion in today's tree by default, and in any tree that holds the event.
    today = get(client, f"/log/events/{positions[0]}/inclusion", auditor)
    assert today["tree_size"] == checkpoint.size
    early = get(client, "/log/events/1/inclusion?tree_size=1", auditor)  # 06F's opening
    assert early["inclusion_path"] == [] and early["root_hash"] == early["leaf_hash"]


def test_a_later_log_is_proven_to_extend_a_kept_checkpoint(
    log_app: Flask, client: FlaskClient, auditor: dict[str, str]
) -> None:
    record(log_app, CCG, 3)
    old = latest(client, auditor)
    record(log_app, OTHER_CCG, 4)
    new = latest(client, auditor)
    assert new.size > old.size
    proof = get(client, f"/log/consistency?first={old.size}&second={new.size}", auditor)
    size1, size2, path = load_consistency_proof(proof)
    assert verify_consistency(size1, size2, path, old.root, new.root)
    assert get(client, f"/log/consistency?first={old.size}", auditor) == proof
    for first in range(new.size + 1):  # every prefix, including the empty tree and itself
        proof = get(client, f"/log/consistency?first={first}", auditor)
        root1, path = base64.b64decode(proof["root_hash_1"]), hashes(proof["consistency_path"])
        assert verify_consistency(first, new.size, path, root1, new.root)


def test_forged_proofs_are_refused_by_the_verifier(
    log_app: Flask, client: FlaskClient, auditor: dict[str, str]
) -> None:
    """A man in the middle (or a lying server) cannot make a forged answer verify."""
    positions = record(log_app, CCG, 6)
    checkpoint = latest(client, auditor)
    data = get(client, f"/log/events/{positions[2]}/leaf", auditor)["leaf"]
    leaf, root = leaf_hash(base64.b64decode(data)), checkpoint.root
    index, size, path = load_inclusion_proof(
        get(client, f"/log/events/{positions[2]}/inclusion", auditor)
    )
    assert verify_inclusion(leaf, index, size, path, root)
    for i in range(len(path)):
        for bit in (0, 7, 255):  # the first, a middle and the last bit of each hash
            flipped = bytearray(path[i])
            flipped[bit // 8] ^= 1 << (bit % 8)
            forged = [*path[:i], bytes(flipped), *path[i + 1 :]]
            refused(verify_inclusion, leaf, index, size, forged, root)
    for forged_path in (
        [],  # empty
        [*path, bytes(32)],  # one hash too many
        path * 40,  # oversized
        path[:-1],  # one too few
        path[::-1],
        [bytes(31)] * len(path),  # not hashes
        "not a list",
    ):
        refused(verify_inclusion, leaf, index, size, forged_path, root)
    for forged_index, forged_size in (
        (index + 1, size),
        (index, 4 * size),  # a path of the wrong length for the size
        (size, size),  # an index outside the tree
        (index, -1),
        (index, 2**64),
    ):
        refused(verify_inclusion, leaf, forged_index, forged_size, path, root)
    # A proof for another size fails against that size's root. (Sizes are bound to
    # roots by the signed checkpoint: an auditor checks the proof's tree_size is its
    # checkpoint's — for some sizes the same path would fold to this root.)
    smaller = base64.b64decode(
        get(client, f"/log/consistency?first={size - 1}", auditor)["root_hash_1"]
    )
    refused(verify_inclusion, leaf, index, size - 1, path, smaller)
    # A consistency proof is no better for being forged.
    proof = get(client, "/log/consistency?first=3", auditor)
    old_root, cproof = base64.b64decode(proof["root_hash_1"]), hashes(proof["consistency_path"])
    assert verify_consistency(3, checkpoint.size, cproof, old_root, root)
    for forged_path in ([], cproof + cproof, cproof[:-1], [bytes(32)] * len(cproof), cproof[::-1]):
        refused(verify_consistency, 3, checkpoint.size, forged_path, old_root, root)
    refused(verify_consistency, 4, checkpoint.size, cproof, old_root, root)
    with pytest.raises(ProofError, match="larger"):
        verify_consistency(checkpoint.size, 3, cproof, root, old_root)


def test_an_edited_event_no_longer_matches_its_proof(
    log_app: Flask, client: FlaskClient, auditor: dict[str, str]
) -> None:
    """The leaf is rebuilt from the stored row: an edit shows, even served by the API."""
    positions = record(log_app, CCG, 4)
    checkpoint = latest(client, auditor)
    ledger = ledger_of(log_app)
    events = ledger.store.events_record_cls.__table__
    with ledger.store.datastore.engine.begin() as conn:
        state = conn.execute(events.select().where(events.c.id == positions[2])).one().state
        conn.execute(
            events.update()
            .where(events.c.id == positions[2])
            .values(state=bytes(state).replace(b"1002", b"9002"))
        )
    data = base64.b64decode(get(client, f"/log/events/{positions[2]}/leaf", auditor)["leaf"])
    index, size, path = load_inclusion_proof(
        get(client, f"/log/events/{positions[2]}/inclusion?tree_size={checkpoint.size}", auditor)
    )
    assert b"9002" in data
    assert not verify_inclusion(leaf_hash(data), index, size, path, checkpoint.root)


def test_an_event_damaged_beyond_encoding_is_a_problem_not_a_crash(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SQLite keeps whatever an UPDATE puts in a column: text where bytes belong."""
    app = build(sqlite_url, QP_LEDGER_SIGNING_KEY_FILE=str(tmp_path / "k.key"))
    try:
        position = record(app, CCG, 1)[0]
        ledger = ledger_of(app)
        with ledger.store.datastore.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE qpledger_events SET state = CAST(state AS TEXT) WHERE id = ?", (position,)
            )
        client, headers = app.test_client(), headers_factory(app)
        for who in ("auditor", "ccg"):
            response = client.get(f"/log/events/{position}/leaf", headers=headers(who))
            assert response.status_code == 409, response.get_data(as_text=True)
            assert response.json["code"] == "damaged-event"
            assert "qp-ledger verify" in response.json["detail"]
        # The proof itself needs only the stored hashes.
        response = client.get(f"/log/events/{position}/inclusion", headers=headers("auditor"))
        assert response.status_code == 200
    finally:
        ledger_of(app).close()


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/log/events/0/leaf", 404, "position"),
        ("/log/events/999/leaf", 404, "position"),
        ("/log/events/99999999999999999999999999/leaf", 404, "position"),
        ("/log/events/999/inclusion", 404, "position"),
        ("/log/events/1/inclusion?tree_size=999", 422, "tree_size"),
        ("/log/events/3/inclusion?tree_size=2", 422, "tree_size"),
        ("/log/events/1/inclusion?tree_size=0", 422, "tree_size"),
        ("/log/events/1/inclusion?tree_size=-1", 422, "tree_size"),
        ("/log/events/1/inclusion?tree_size=18446744073709551616", 422, "tree_size"),
        ("/log/events/1/inclusion?tree_size=abc", 422, "tree_size"),
        ("/log/consistency", 422, "first"),
        ("/log/consistency?first=3&second=2", 422, "first"),
        ("/log/consistency?first=999", 422, "first"),
        ("/log/consistency?first=1&second=999", 422, "second"),
        ("/log/consistency?first=-1", 422, "first"),
        ("/log/consistency?first=1.5", 422, "first"),
        ("/log/consistency?first=99999999999999999999999999", 422, "first"),
    ],
)
def test_bad_requests_are_problems_not_crashes(
    log_app: Flask, client: FlaskClient, auditor: dict[str, str], url: str, status: int, field: str
) -> None:
    record(log_app, CCG, 2)  # positions 1..3
    response = client.get(url, headers=auditor)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["status"] == status and problem["detail"]
    assert any(error["field"] == field for error in problem.get("errors", [])), problem
    for nonsense in ("/log/events/abc/leaf", "/log/events/-1/inclusion", "/log/events//leaf"):
        assert client.get(nonsense, headers=auditor).status_code == 404


def test_a_ccg_reads_only_its_own_events_and_an_area_team_its_area(log_app: Flask) -> None:
    client, headers = log_app.test_client(), headers_factory(log_app)
    ours, theirs = record(log_app, CCG, 1)[0], record(log_app, OTHER_CCG, 1)[0]
    for who, allowed in (
        ("ccg", {ours}),
        ("ccg-other", {theirs}),
        ("area-team", {ours}),
        ("area-team-other", {theirs}),
        ("board", {ours, theirs}),
        ("auditor", {ours, theirs}),
        ("reporter", set()),
    ):
        for position in (ours, theirs):
            for what in ("leaf", "inclusion"):
                response = client.get(f"/log/events/{position}/{what}", headers=headers(who))
                expected = 200 if position in allowed else 403
                assert response.status_code == expected, (who, position, what, response.json)
        # Nothing in a checkpoint or a consistency proof is any CCG's: all but reporters.
        expected = 403 if who == "reporter" else 200
        assert client.get("/log/checkpoint", headers=headers(who)).status_code == expected
        assert client.get("/log/consistency?first=1", headers=headers(who)).status_code == expected
    refused = client.get(f"/log/events/{theirs}/leaf", headers=headers("ccg"))
    assert "not a record of that CCG" in refused.json["detail"]
    # An event of no CCG's record (a stream the application does not know) is the
    # Board's and auditors' to read, no one else's; no event at all is 404 for everyone.
    store = ledger_of(log_app).store
    store.insert_events([StoredEvent(uuid4(), 1, "test.Orphan", b"{}")])
    orphan = ledger_of(log_app).max_position()
    for who, expected in (("board", 200), ("auditor", 200), ("ccg", 403), ("area-team", 403)):
        response = client.get(f"/log/events/{orphan}/leaf", headers=headers(who))
        assert response.status_code == expected, who
    assert client.get("/log/events/999/leaf", headers=headers("ccg")).status_code == 404


def test_a_key_made_for_another_log_is_refused_with_503(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "signing.key"
    first = build(
        database_url, QP_LEDGER_SIGNING_KEY_FILE=str(key_file), QP_LEDGER_LOG_ORIGIN="a/log"
    )
    try:
        auditor = headers_factory(first)("auditor")
        assert first.test_client().get("/log/key", headers=auditor).status_code == 200
    finally:
        ledger_of(first).close()
    second = build(
        database_url, QP_LEDGER_SIGNING_KEY_FILE=str(key_file), QP_LEDGER_LOG_ORIGIN="b/log"
    )
    try:
        auditor = headers_factory(second)("auditor")
        for url in ("/log/key", "/log/checkpoint", "/log/checkpoint.json"):
            response = second.test_client().get(url, headers=auditor)
            assert response.status_code == 503, url
            assert response.json["code"] == "signing-key-unavailable"
            assert str(key_file) not in response.get_data(as_text=True)  # paths stay in the log
        assert key_file.read_text().startswith("PRIVATE+KEY+a/log+")  # never replaced
    finally:
        ledger_of(second).close()


def test_without_configuration_the_key_sits_beside_the_sqlite_database(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = build(sqlite_url)
    try:
        auditor = headers_factory(app)("auditor")
        key = app.test_client().get("/log/key", headers=auditor).json
        assert key["origin"] == "qp-ledger/log"
        assert (tmp_path / "ledger-signing.key").exists()
        assert oct(os.stat(tmp_path / "ledger-signing.key").st_mode & 0o777) == "0o600"
    finally:
        ledger_of(app).close()


def test_the_openapi_document_describes_the_log(sqlite_app: Flask) -> None:
    spec = sqlite_app.test_client().get("/openapi.json").json
    paths = spec["paths"]
    note = paths["/log/checkpoint"]["get"]["responses"]["200"]["content"]
    assert list(note) == ["text/plain"]
    for path, schema in (
        ("/log/checkpoint.json", "CheckpointDocument"),
        ("/log/key", "VerifierKey"),
        ("/log/consistency", "ConsistencyProof"),
        ("/log/events/{position}/inclusion", "InclusionProof"),
        ("/log/events/{position}/leaf", "Leaf"),
    ):
        content = paths[path]["get"]["responses"]["200"]["content"]["application/json"]
        assert content["schema"]["$ref"].endswith(f"/{schema}"), path
        assert paths[path]["get"]["security"] == [{"bearerAuth": []}]
    assert "`reporter`" not in paths["/log/key"]["get"]["description"]
