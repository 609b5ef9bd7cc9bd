"""Signed checkpoints: C2SP tlog-checkpoint bodies in Ed25519 signed notes.

Interoperability vector: the example key pair and signed note from the
documentation of golang.org/x/mod/sumdb/note (``note.go`` package comment and
``example_test.go``, key "PeterNeumann+c74f20a3"). Ed25519 is deterministic,
so signing that text with that key must reproduce Go's signature line byte
for byte — which pins the key id, key string and signature line formats.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity.checkpoint import (
    Checkpoint,
    CheckpointError,
    Signer,
    checkpoint_body,
    key_id,
    open_note,
    parse_checkpoint_body,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from ledger.integrity.key_files import load_or_create_signer
from ledger.integrity.leaf import encode_leaf
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.verifier import main as verifier_main
from tests.ledgerkit import consistency_check, inclusion_check
from tests.merkle_reference import MemoryTree

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n"
    + "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"  # noqa: E501
)

ORIGIN = "qp-ledger.test/log"
SIGNER = Signer(ORIGIN, bytes(range(32)))
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


# -- the golang.org/x/mod/sumdb/note vector ------------------------------------


def test_go_note_example_verifies() -> None:
    verifier = parse_verifier_key(GO_VKEY)
    assert verifier.key_id == 0xC74F20A3 == key_id("PeterNeumann", verifier.public_key)
    assert str(verifier) == GO_VKEY
    assert open_note(GO_NOTE, GO_VKEY) == GO_TEXT


def test_go_note_example_is_reproduced_byte_for_byte() -> None:
    signer = Signer.from_signer_key(GO_SKEY)
    assert signer.signer_key() == GO_SKEY
    assert str(signer.verifier) == GO_VKEY
    assert sign_note(GO_TEXT, signer) == GO_NOTE


# -- checkpoint format -----------------------------------------------------------


def test_checkpoint_text_is_the_c2sp_layout() -> None:
    text = sign_checkpoint(ORIGIN, 8, ROOT, SIGNER)
    body, signatures = text.split("\n\n")
    assert body + "\n" == f"{ORIGIN}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    name, encoded = signatures.removeprefix("\u2014 ").removesuffix("\n").split(" ")
    raw = base64.b64decode(encoded)
    assert name == ORIGIN and len(raw) == 68
    assert raw[:4] == SIGNER.verifier.key_id.to_bytes(4, "big")
    assert verify_checkpoint(text, str(SIGNER.verifier)) == Checkpoint(ORIGIN, 8, ROOT)


def test_extension_lines_are_signed_and_returned() -> None:
    text = sign_checkpoint(ORIGIN, 3, ROOT, SIGNER, ("time 2024-04-01T00:00:00Z",))
    assert verify_checkpoint(text, SIGNER.verifier) == Checkpoint(ORIGIN, 3, ROOT)
    _, extensions = parse_checkpoint_body(open_note(text, SIGNER.verifier))
    assert extensions == ("time 2024-04-01T00:00:00Z",)


def test_empty_tree_checkpoint() -> None:
    root = MemoryTree().root()
    assert verify_checkpoint(sign_checkpoint(ORIGIN, 0, root, SIGNER), SIGNER.verifier).size == 0


def test_cosignatures_by_other_keys_are_skipped() -> None:
    text = sign_checkpoint(ORIGIN, 8, ROOT, SIGNER)
    witness = Signer("witness.example", bytes(32))
    extra = sign_note(text.split("\n\n")[0] + "\n", witness).split("\n\n")[1]
    assert verify_checkpoint(text + extra, SIGNER.verifier).root == ROOT
    with pytest.raises(CheckpointError, match=re.escape("not signed by qp-ledger.test/log")):
        verify_checkpoint(text.split("\n\n")[0] + "\n\n" + extra, SIGNER.verifier)


def test_a_checkpoint_of_another_log_is_refused() -> None:
    other = Signer("another.log", bytes(range(32)))
    text = sign_checkpoint("qp-ledger.test/log", 8, ROOT, other)
    message = "is for log 'qp-ledger.test/log', not 'another"
    with pytest.raises(CheckpointError, match=re.escape(message)):
        verify_checkpoint(text, other.verifier)
    assert verify_checkpoint(text, other.verifier, origin=ORIGIN).size == 8


def test_another_key_with_the_same_name_is_refused() -> None:
    text = sign_checkpoint(ORIGIN, 8, ROOT, Signer(ORIGIN, bytes(32)))
    with pytest.raises(CheckpointError, match="not signed by"):
        verify_checkpoint(text, SIGNER.verifier)


# -- tampering -------------------------------------------------------------------

GOOD = sign_checkpoint(ORIGIN, 8, ROOT, SIGNER)


def _with_signature(raw: bytes) -> str:
    body = GOOD.split("\n\n")[0]
    return f"{body}\n\n\u2014 {ORIGIN} {base64.b64encode(raw).decode()}\n"


@given(st.integers(0, 68 * 8 - 1))
def test_flipping_any_bit_of_the_signature_fails(bit: int) -> None:
    raw = bytearray(base64.b64decode(GOOD.split(" ")[-1]))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CheckpointError):
        verify_checkpoint(_with_signature(bytes(raw)), SIGNER.verifier)


@given(st.integers(0, 255))
def test_flipping_any_bit_of_the_root_fails(bit: int) -> None:
    root = bytearray(ROOT)
    root[bit // 8] ^= 1 << (bit % 8)
    body = checkpoint_body(ORIGIN, 8, bytes(root))
    forged = body + "\n" + GOOD.split("\n\n")[1]
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(forged, SIGNER.verifier)


@settings(max_examples=300)
@given(st.data())
def test_any_single_character_edit_fails(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(GOOD) - 1))
    replacement = data.draw(st.characters(codec="utf-8"))
    forged = GOOD[:position] + replacement + GOOD[position + 1 :]
    if forged == GOOD:
        return
    with pytest.raises(CheckpointError):
        verify_checkpoint(forged, SIGNER.verifier)


@settings(max_examples=300)
@given(st.text(max_size=300), st.sampled_from([GOOD, GOOD[:-1], GOOD.split("\n\n")[0], ""]))
def test_arbitrary_text_raises_only_checkpoint_error(junk: str, prefix: str) -> None:
    for text in (junk, prefix + junk, junk + prefix):
        try:
            verify_checkpoint(text, SIGNER.verifier)
        except CheckpointError:
            continue
        assert text == GOOD


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("\n\n", "\n"), "no blank line"),
        (GOOD[:-1], "must end with a newline"),
        (GOOD.replace("\u2014 ", "- "), "must start with '— '"),
        (GOOD.replace("\n8\n", "\n8\x07\n"), "control characters"),
        (GOOD.replace("=\n", "\n"), "signature is not valid base64"),
        (GOOD.replace("\n8\n", "\n9\n"), "does not verify"),
        (GOOD + "".join(GOOD.split("\n\n")[1] for _ in range(100)), "more than 100"),
    ],
)
def test_malformed_notes_say_why(text: str, message: str) -> None:
    with pytest.raises(CheckpointError) as e:
        verify_checkpoint(text, SIGNER.verifier)
    assert message in str(e.value)


B64_ROOT = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n08\n{B64_ROOT}\n", "not a uint64 in canonical decimal"),
        (f"{ORIGIN}\n{2**64}\n{B64_ROOT}\n", "not a uint64"),
        (f"{ORIGIN}\n-8\n{B64_ROOT}\n", "not a uint64"),
        (f"{ORIGIN}\n\u0668\n{B64_ROOT}\n", "not a uint64"),  # an Arabic-Indic eight
        (f"{ORIGIN}\n8\n", "needs an origin, a tree size and a root hash"),
        (f"{ORIGIN}\n8\nXcna!\n", "root hash is not valid base64"),
        (f"{ORIGIN}\n8\n{base64.b64encode(ROOT[:31]).decode()}\n", "is 31 bytes, not 32"),
        # 'g' -> 'h' changes only the unused low bits of the last character.
        (f"{ORIGIN}\n8\n{B64_ROOT[:-2]}h=\n", "not canonical base64"),
        (f"other.log\n8\n{B64_ROOT}\n", "is for log 'other.log', not 'qp-ledger.test/log'"),
    ],
)
def test_malformed_checkpoint_bodies_say_why(body: str, message: str) -> None:
    # Signed, so that the body itself (not the signature) is what gets refused.
    with pytest.raises(CheckpointError) as e:
        verify_checkpoint(sign_note(body, SIGNER), SIGNER.verifier)
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("", "must look like"),
        ("name+c74f20a3", "must look like"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 lowercase hex"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a3+AhpjMVnf", "not an Ed25519"),
        ("PeterNeumann+c74f20a3+!!!", "not valid base64"),
    ],
)
def test_bad_verifier_keys_say_why(vkey: str, message: str) -> None:
    with pytest.raises(CheckpointError) as e:
        parse_verifier_key(vkey)
    assert message in str(e.value)


def test_signing_refuses_bad_input() -> None:
    with pytest.raises(CheckpointError):
        sign_checkpoint("two\nlines", 1, ROOT, SIGNER)
    with pytest.raises(CheckpointError):
        sign_checkpoint(ORIGIN, -1, ROOT, SIGNER)
    with pytest.raises(CheckpointError):
        sign_checkpoint(ORIGIN, 1, ROOT[:31], SIGNER)
    with pytest.raises(CheckpointError):
        Signer("has+plus", bytes(32))


# -- the key file ----------------------------------------------------------------


def test_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    signer, created = load_or_create_signer(path, ORIGIN)
    assert created is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith(f"PRIVATE+KEY+{ORIGIN}+")
    again, created_again = load_or_create_signer(path, ORIGIN)
    assert created_again is False
    assert str(again.verifier) == str(signer.verifier)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.key"]  # no temporary left


def test_key_file_for_another_name_or_corrupt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    load_or_create_signer(path, ORIGIN)
    with pytest.raises(CheckpointError, match=re.escape("holds the key for 'qp-ledger.test/log'")):
        load_or_create_signer(path, "other.log")
    path.write_text("PRIVATE+KEY+x+00000000+AAAA\n")
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_or_create_signer(path, ORIGIN)


# -- verifying from files alone (the auditor's command line) ------------------------


def test_verifier_command_line_from_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    leaf = encode_leaf(3, "stream", 1, "topic", 10, b"", b"payload")
    leaves = [f"leaf {i}".encode() for i in range(7)]
    leaves[3] = leaf
    tree = MemoryTree.from_data(leaves)
    monkeypatch.chdir(tmp_path)
    Path("old.txt").write_text(sign_checkpoint(ORIGIN, 4, tree.root(4), SIGNER))
    Path("new.txt").write_text(sign_checkpoint(ORIGIN, 7, tree.root(), SIGNER))
    Path("key.pub").write_text(str(SIGNER.verifier) + "\n")
    Path("leaf.bin").write_bytes(leaf)
    b64 = [base64.b64encode(h).decode() for h in tree.inclusion_proof(3)]
    Path("inclusion.json").write_text(
        json.dumps({"leaf_index": 3, "tree_size": 7, "inclusion_path": b64})
    )
    b64 = [base64.b64encode(h).decode() for h in tree.consistency_proof(4)]
    Path("consistency.json").write_text(
        json.dumps({"tree_size_1": 4, "tree_size_2": 7, "consistency_path": b64})
    )
    key = "@key.pub"
    assert verifier_main(inclusion_check(key, "leaf.bin", "inclusion.json", "new.txt")) == 0
    assert verifier_main(consistency_check(key, "old.txt", "consistency.json", "new.txt")) == 0
    assert verifier_main(["leaf", "leaf.bin"]) == 0
    out = capsys.readouterr().out
    assert "inclusion of leaf.bin at leaf index 3: VERIFIED" in out
    assert "consistency 4 -> 7: VERIFIED" in out
    assert f"leaf hash: {leaf_hash(leaf).hex()}" in out
    # A changed leaf, or a checkpoint for another size, is not verified.
    Path("leaf.bin").write_bytes(leaf.replace(b"payload", b"paylo4d"))
    assert verifier_main(inclusion_check(key, "leaf.bin", "inclusion.json", "new.txt")) == 1
    assert verifier_main(inclusion_check(key, "leaf.bin", "inclusion.json", "old.txt")) == 1
    err = capsys.readouterr().err
    assert "NOT VERIFIED: proof is for tree size 7, the checkpoint is 4" in err
