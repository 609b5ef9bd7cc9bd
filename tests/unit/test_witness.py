"""The witness's own rules, one at a time (issue 11 item 2); the state machine is in
test_witness_properties.py, the command line in tests/integration/test_witness.py.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest

from ledger.integrity.checkpoint import Signer, sign_checkpoint
from ledger.integrity.cosignature import Cosigner, split_note, verify_cosignatures
from ledger.integrity.merkle import EMPTY_ROOT
from ledger.integrity.witness import (
    ConsistencyProof,
    Witness,
    WitnessRefused,
    load_proof,
)
from tests.merkle_reference import MemoryTree

ORIGIN = "qp-ledger.test/log"
LOG = Signer(ORIGIN, b"\x01" * 32)
ME = Cosigner("auditor.example/me", b"\x02" * 32)
OTHER = Cosigner("auditor.example/other", b"\x03" * 32)


def tree(*leaves: bytes) -> MemoryTree:
    return MemoryTree.from_data(leaves)


def note_of(t: MemoryTree) -> str:
    return sign_checkpoint(ORIGIN, t.size, t.root(), LOG)


def proof(t: MemoryTree, old: int) -> ConsistencyProof:
    return ConsistencyProof(old, t.size, t.consistency_proof(old))


def test_two_concurrent_forks_of_the_same_extension_get_one_cosignature(tmp_path: Path) -> None:
    state = tmp_path / "w.state"
    base = [b"a", b"b", b"c"]
    Witness(ME, state).cosign(note_of(tree(*base)), None, str(LOG.verifier))
    forks = [tree(*base, f"fork {n}".encode()) for n in range(8)]
    results: list[str] = []
    barrier = threading.Barrier(len(forks))

    def run(t: MemoryTree) -> None:
        barrier.wait()
        try:
            Witness(ME, state).cosign(note_of(t), proof(t, 3), str(LOG.verifier))
            results.append("cosigned")
        except WitnessRefused as e:
            results.append(e.reason)

    threads = [threading.Thread(target=run, args=(t,)) for t in forks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["cosigned"] + ["fork"] * (len(forks) - 1)


def test_cosigning_again_replaces_its_own_line_keeps_others_and_never_dates_backwards(
    tmp_path: Path,
) -> None:
    clock = [2_000]
    witness = Witness(ME, tmp_path / "w.state", clock=lambda: clock[0])
    other = Witness(OTHER, tmp_path / "o.state", clock=lambda: 1_000)
    note = other.cosign(note_of(tree(b"a")), None, str(LOG.verifier))
    once = witness.cosign(note, None, str(LOG.verifier))
    clock[0] = 1_500  # the witness's clock went back
    twice = witness.cosign(once, None, str(LOG.verifier))
    _, lines = split_note(twice)
    assert [line.name for line in lines] == [ORIGIN, OTHER.name, ME.name]
    (mine,) = verify_cosignatures(twice, [ME.key], 1, now=2_000)
    assert mine.timestamp == 2_000
    assert verify_cosignatures(twice, [OTHER.key], 1, now=2_000)


def test_the_empty_tree_has_one_root(tmp_path: Path) -> None:
    witness = Witness(ME)
    assert witness.cosign(sign_checkpoint(ORIGIN, 0, EMPTY_ROOT, LOG), None, LOG.verifier)
    with pytest.raises(WitnessRefused) as refused:
        Witness(ME).cosign(sign_checkpoint(ORIGIN, 0, bytes(32), LOG), None, LOG.verifier)
    assert refused.value.reason == "fork"


def test_a_checkpoint_for_another_origin_under_the_logs_key_is_unknown() -> None:
    note = sign_checkpoint("elsewhere/log", 1, bytes(32), LOG)
    with pytest.raises(WitnessRefused) as refused:
        Witness(ME).cosign(note, None, LOG.verifier)
    assert refused.value.reason == "unknown-origin"
    assert Witness(ME).cosign(note, None, LOG.verifier, origin="elsewhere/log")


def test_the_state_file_is_written_whole_and_private(tmp_path: Path) -> None:
    state = tmp_path / "w.state"
    Witness(ME, state).cosign(note_of(tree(b"a")), None, str(LOG.verifier))
    document = json.loads(state.read_text())
    assert document["format"] == "qp-ledger/witness-state/v1"
    assert document["witness"] == str(ME.key)
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.state", "w.state.lock"]


def test_proofs_load_from_the_ledgers_json_and_from_a_tlog_witness_body() -> None:
    t = tree(b"a", b"b", b"c", b"d", b"e")
    path = t.consistency_proof(3)
    encoded = [base64.b64encode(h).decode() for h in path]
    document = {"tree_size_1": 3, "tree_size_2": 5, "consistency_path": encoded}
    assert load_proof(json.dumps(document)) == ConsistencyProof(3, 5, path)
    body = "old 3\n" + "".join(f"{h}\n" for h in encoded) + "\n" + note_of(t)
    assert load_proof(body) == ConsistencyProof(3, -1, path)
    witness = Witness(ME)
    witness.cosign(note_of(tree(b"a", b"b", b"c")), None, LOG.verifier)
    assert witness.cosign(note_of(t), load_proof(body), LOG.verifier)


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '{"tree_size_1": "3", "tree_size_2": 5, "consistency_path": []}',
        '{"tree_size_1": 3, "tree_size_2": 5, "consistency_path": ["AAAB="]}',
        "old 03\n",
        "old x\n",
        "3\n",
        "old 3\n!!!!\n",
        "old 3\n" + "AAAA\n" * 64,
    ],
)
def test_malformed_proofs_are_refused_as_bad_proofs(text: str) -> None:
    with pytest.raises(WitnessRefused) as refused:
        load_proof(text)
    assert refused.value.reason == "bad-proof"
