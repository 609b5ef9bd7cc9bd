"""The offline verifier, ``python -m ledger.integrity.verifier``, run in process on files.

What an auditor relies on: exit 0 and "VERIFIED" only for a proof that holds
under a checkpoint signed by the key for the expected origin; for anything
else exit 1, "FAILED" or "NOT VERIFIED: <why>", never a traceback — whatever
the files hold (a proof document that is a string, loose or non-canonical
base64, text that is not UTF-8, JSON nested without end). The sizes go to
RFC 9162's limit, 2^64 - 1, and not past it.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ledger.integrity.checkpoint import Signer, sign_checkpoint
from ledger.integrity.cosignature import Cosigner, add_cosignature
from ledger.integrity.leaf import encode_leaf
from ledger.integrity.merkle import EMPTY_ROOT, MAX_TREE_SIZE, leaf_hash, node_hash
from ledger.integrity.verifier import (
    ProofError,
    consistency_path_length,
    decode_base64,
    inclusion_path_length,
    load_consistency_proof,
    load_inclusion_proof,
    main,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from tests.merkle_reference import MemoryTree

ORIGIN = "qp-ledger.test/log"
SIGNER = Signer(ORIGIN, bytes(range(32)))
LEAVES = [
    encode_leaf(i, "stream", i, "topic", 10 + i, b"", f"payload {i}".encode()) for i in range(7)
]
TREE = MemoryTree.from_data(LEAVES)


def b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Checkpoints of sizes 4 and 7, the key, leaf 3 and both proofs, as an auditor gets them."""
    monkeypatch.chdir(tmp_path)
    Path("old.txt").write_text(sign_checkpoint(ORIGIN, 4, TREE.root(4), SIGNER))
    Path("new.txt").write_text(sign_checkpoint(ORIGIN, 7, TREE.root(), SIGNER))
    Path("key.pub").write_text(f"{SIGNER.verifier}\n")
    Path("leaf.bin").write_bytes(LEAVES[3])
    write("inclusion.json", {"leaf_index": 3, "tree_size": 7, "inclusion_path": inclusion()})
    write(
        "consistency.json",
        {"tree_size_1": 4, "tree_size_2": 7, "consistency_path": b64(TREE.consistency_proof(4))},
    )
    return tmp_path


def inclusion() -> list[str]:
    return b64(TREE.inclusion_proof(3))


def write(name: str, document: Any) -> None:
    Path(name).write_text(json.dumps(document))


def verify(kind: str, *extra: str, proof: str = "", checkpoint: str = "new.txt") -> int:
    args = [kind, "--key", "@key.pub", *extra]
    if kind == "inclusion":
        args += ["--leaf", "leaf.bin", "--proof", proof or "inclusion.json"]
    if kind == "consistency":
        args += ["--old", "old.txt", "--proof", proof or "consistency.json"]
    return main([*args, checkpoint])


def refused(capsys: pytest.CaptureFixture[str], code: int, why: str) -> None:
    out, err = capsys.readouterr()
    assert code == 1
    assert "VERIFIED" not in out.replace("NOT VERIFIED", "")
    assert err == f"NOT VERIFIED: {why}\n"


# --------------------------------------------------------------------------- outcomes


def test_valid_proofs_verify_and_say_so(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify("checkpoint") == 0
    assert verify("inclusion") == 0
    assert verify("consistency") == 0
    root7, root4 = TREE.root().hex(), TREE.root(4).hex()
    assert capsys.readouterr().out == (
        f"checkpoint new.txt: signed by the key; origin {ORIGIN}, tree size 7, root {root7}\n"
        f"checkpoint new.txt: signed by the key; origin {ORIGIN}, tree size 7, root {root7}\n"
        "inclusion of leaf.bin at leaf index 3: VERIFIED\n"
        f"checkpoint new.txt: signed by the key; origin {ORIGIN}, tree size 7, root {root7}\n"
        f"checkpoint old.txt: signed by the key; origin {ORIGIN}, tree size 4, root {root4}\n"
        "consistency 4 -> 7: VERIFIED\n"
    )


def test_a_consistency_proof_that_does_not_hold_fails_and_never_says_verified(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = TREE.consistency_proof(4)
    path[-1] = bytes(32)
    write("forged.json", {"tree_size_1": 4, "tree_size_2": 7, "consistency_path": b64(path)})
    assert verify("consistency", proof="forged.json") == 1
    out = capsys.readouterr().out
    assert out.endswith("consistency 4 -> 7: FAILED\n")
    assert "VERIFIED" not in out


def test_an_inclusion_proof_that_does_not_hold_fails(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("leaf.bin").write_bytes(LEAVES[4])  # a real leaf, at the wrong index
    assert verify("inclusion") == 1
    out = capsys.readouterr().out
    assert out.endswith("inclusion of leaf.bin at leaf index 3: FAILED\n")
    assert "VERIFIED" not in out


# --------------------------------------------------------------------------- --origin


def test_the_origin_defaults_to_the_key_name_and_can_be_given(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "qp-ledger.test/other-log"  # same key, another log
    Path("other.txt").write_text(sign_checkpoint(other, 7, TREE.root(), SIGNER))
    refused(
        capsys,
        verify("checkpoint", checkpoint="other.txt"),
        f"checkpoint is for log {other!r}, not {ORIGIN!r}",
    )
    assert verify("checkpoint", "--origin", other, checkpoint="other.txt") == 0
    assert f"origin {other}, tree size 7" in capsys.readouterr().out
    refused(
        capsys,
        verify("inclusion", "--origin", other),
        f"checkpoint is for log {ORIGIN!r}, not {other!r}",
    )
    # Both checkpoints of a consistency proof are held to the origin.
    Path("old.txt").write_text(sign_checkpoint(other, 4, TREE.root(4), SIGNER))
    refused(
        capsys,
        verify("consistency"),
        f"checkpoint is for log {other!r}, not {ORIGIN!r}",
    )


# --------------------------------------------------------------------------- proof files


@pytest.mark.parametrize("document", ['"a proof"', "12", "null", "[]", "true"])
def test_a_proof_document_that_is_not_an_object_is_refused_clearly(
    files: Path, capsys: pytest.CaptureFixture[str], document: str
) -> None:
    Path("odd.json").write_text(document)
    refused(capsys, verify("inclusion", proof="odd.json"), "proof document has no 'inclusion_path'")
    refused(
        capsys, verify("consistency", proof="odd.json"), "proof document has no 'consistency_path'"
    )


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("not base64!", "is not base64"),
        (" {}", "is not base64"),  # a stray leading space
        ("{}\n", "is not base64"),  # a stray newline
        (str.rstrip, "is not base64"),  # padding left off (stripped of "=")
        ("é", "is not base64"),
        (12, "must be a base64 string"),
        (None, "must be a base64 string"),
    ],
)
def test_loose_base64_in_a_proof_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str], entry: Any, why: str
) -> None:
    path = inclusion()
    if callable(entry):
        path[1] = entry(path[1], "=")
    else:
        path[1] = entry.format(path[1]) if isinstance(entry, str) else entry
    write("loose.json", {"leaf_index": 3, "tree_size": 7, "inclusion_path": path})
    refused(capsys, verify("inclusion", proof="loose.json"), f"inclusion_path[1] {why}")


def test_a_second_spelling_of_the_same_hash_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = inclusion()
    # 32 bytes end in one "=" and a character whose low two bits are padding:
    # setting them spells the same bytes another way.
    last = path[0][-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = path[0][:-2] + alphabet[alphabet.index(last) | 1] + "="
    assert twin != path[0] and base64.b64decode(twin) == base64.b64decode(path[0])
    path[0] = twin
    write("twin.json", {"leaf_index": 3, "tree_size": 7, "inclusion_path": path})
    refused(
        capsys, verify("inclusion", proof="twin.json"), "inclusion_path[0] is not canonical base64"
    )


def test_decode_base64_raises_the_callers_error() -> None:
    class Mine(ValueError):
        pass

    assert decode_base64("AAEC", "x", Mine) == b"\x00\x01\x02"
    with pytest.raises(Mine, match=r"^x is not base64$"):
        decode_base64("AAE", "x", Mine)
    with pytest.raises(Mine, match=r"^x is not canonical base64$"):
        decode_base64("AAF=", "x", Mine)
    with pytest.raises(Mine, match=r"^x must be a base64 string$"):
        decode_base64(b"AAEC", "x", Mine)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\xff\xfe{}", "odd.json is not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "odd.json is nested too deeply to be a proof"),
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b'{"leaf_index": 3,',
         "Expecting property name enclosed in double quotes: line 1 column 18 (char 17)"),
    ],
)  # fmt: skip
def test_a_proof_file_that_is_not_json_text_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str], content: bytes, why: str
) -> None:
    Path("odd.json").write_bytes(content)
    refused(capsys, verify("inclusion", proof="odd.json"), why)


def test_a_checkpoint_or_key_file_that_is_not_utf8_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("odd.txt").write_bytes(b"\xff\xfe")
    refused(capsys, verify("checkpoint", checkpoint="odd.txt"), "odd.txt is not UTF-8 text")
    code = main(["checkpoint", "--key", "@odd.txt", "new.txt"])
    refused(capsys, code, "odd.txt is not UTF-8 text")


def test_a_proof_for_other_sizes_than_the_checkpoints_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("six.json", {"leaf_index": 3, "tree_size": 6, "inclusion_path": inclusion()})
    refused(
        capsys,
        verify("inclusion", proof="six.json"),
        "proof is for tree size 6, the checkpoint is 7",
    )
    write("sizes.json", {"tree_size_1": 3, "tree_size_2": 7, "consistency_path": []})
    refused(
        capsys,
        verify("consistency", proof="sizes.json"),
        "proof is for sizes 3->7, the checkpoints are 4->7",
    )


def test_the_proof_loaders_read_the_rfc_field_names() -> None:
    hashes = [bytes([n]) * 32 for n in range(2)]
    assert load_inclusion_proof(
        {"leaf_index": 3, "tree_size": 7, "inclusion_path": b64(hashes)}
    ) == (3, 7, hashes)
    assert load_consistency_proof(
        {"tree_size_1": 4, "tree_size_2": 7, "consistency_path": b64(hashes)}
    ) == (4, 7, hashes)
    for loader, name in (
        (load_inclusion_proof, "inclusion_path"),
        (load_consistency_proof, "consistency_path"),
    ):
        with pytest.raises(ProofError, match=rf"^{name} must be a list$"):
            loader({name: "AAAA"})
        with pytest.raises(ProofError, match=rf"^{name}\[0\] is not base64$"):
            loader({name: ["AAA"]})
    with pytest.raises(ProofError, match=r"^proof document has no 'leaf_index'$"):
        load_inclusion_proof({"inclusion_path": [], "tree_size": 1})
    with pytest.raises(ProofError, match=r"^proof document has no 'tree_size'$"):
        load_inclusion_proof({"inclusion_path": [], "leaf_index": 1})
    with pytest.raises(ProofError, match=r"^proof document has no 'tree_size_1'$"):
        load_consistency_proof({"consistency_path": [], "tree_size_2": 1})
    with pytest.raises(ProofError, match=r"^proof document has no 'tree_size_2'$"):
        load_consistency_proof({"consistency_path": [], "tree_size_1": 1})


def test_the_leaf_command_prints_the_fields_and_the_hash(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("binary.leaf").write_bytes(encode_leaf(9, "s", 2, "t", 5, b"\x07" * 32, b"\xff\x00"))
    assert main(["leaf", "leaf.bin"]) == 0
    assert main(["leaf", "binary.leaf"]) == 0
    binary_hash = leaf_hash(Path("binary.leaf").read_bytes()).hex()
    assert capsys.readouterr().out == (
        "position: 3\nstream_id: stream\nversion: 3\ntopic: topic\nrecorded_us: 13\n"
        "previous_hash: \npayload: 9 bytes: payload 3\n"
        f"leaf hash: {leaf_hash(LEAVES[3]).hex()}\n"
        "position: 9\nstream_id: s\nversion: 2\ntopic: t\nrecorded_us: 5\n"
        f"previous_hash: {'07' * 32}\npayload: 2 bytes\n"
        f"leaf hash: {binary_hash}\n"
    )
    Path("junk.leaf").write_bytes(b"junk")
    assert main(["leaf", "junk.leaf"]) == 1
    assert capsys.readouterr().err.startswith("NOT VERIFIED: ")


# --------------------------------------------------------------------------- sizes


def test_the_largest_tree_rfc_9162_allows_is_verified() -> None:
    """2^64 - 1 leaves: the last leaf's path is the 63 complete subtrees to its left."""
    size = MAX_TREE_SIZE
    leaf = leaf_hash(b"the last leaf")
    path = [bytes([level]) * 32 for level in range(63)]  # bottom-up: 2^1, 2^2, ... 2^63 leaves
    root = leaf
    for sibling in path:
        root = node_hash(sibling, root)
    assert inclusion_path_length(size - 1, size) == 63
    assert root_from_inclusion_proof(leaf, size - 1, size, path) == root
    assert verify_inclusion(leaf, size - 1, size, path, root) is True
    assert verify_inclusion(leaf, size - 1, size, path, leaf) is False
    # The tree of 2^63 leaves is the left subtree: one hash (the right side) extends it.
    left, right = path[-1], node_hash(path[-2], leaf)  # any two hashes stand for the halves
    assert consistency_path_length(2**63, size) == 1
    assert verify_consistency(2**63, size, [right], left, node_hash(left, right)) is True
    assert verify_consistency(size, size, [], root, root) is True
    assert verify_consistency(0, size, [], EMPTY_ROOT, root) is True


@pytest.mark.parametrize("size", [2**64, -1, True, False, 7.0, "7", None])
def test_a_size_outside_uint64_or_not_an_integer_is_a_proof_error(size: Any) -> None:
    leaf = leaf_hash(b"x")
    with pytest.raises(ProofError, match=r"^tree size must be an integer in "):
        verify_inclusion(leaf, 0, size, [], leaf)
    with pytest.raises(ProofError, match=r"^leaf index must be an integer in "):
        verify_inclusion(leaf, size, 2**64 - 1, [], leaf)
    with pytest.raises(ProofError, match=r"^first tree size must be an integer in "):
        verify_consistency(size, 5, [], leaf, leaf)
    with pytest.raises(ProofError, match=r"^second tree size must be an integer in "):
        verify_consistency(0, size, [], leaf, leaf)


@pytest.mark.parametrize("value", [b"\x00" * 31, b"\x00" * 33, "00" * 32, None, [0] * 32])
def test_a_hash_that_is_not_32_bytes_is_a_proof_error(value: Any) -> None:
    good = leaf_hash(b"x")
    with pytest.raises(ProofError, match=r"^leaf hash must be 32 bytes, not "):
        verify_inclusion(value, 0, 1, [], good)
    with pytest.raises(ProofError, match=r"^root hash must be 32 bytes, not "):
        verify_inclusion(good, 0, 1, [], value)
    with pytest.raises(ProofError, match=r"^first root hash must be 32 bytes, not "):
        verify_consistency(1, 1, [], value, good)
    with pytest.raises(ProofError, match=r"^second root hash must be 32 bytes, not "):
        verify_consistency(1, 1, [], good, value)
    with pytest.raises(ProofError, match=r"^inclusion path\[0\] must be 32 bytes, not "):
        verify_inclusion(good, 0, 2, [value], good)


def test_a_bytearray_hash_is_accepted() -> None:
    leaf = leaf_hash(b"x")
    assert verify_inclusion(bytearray(leaf), 0, 1, (), bytearray(leaf)) is True


# --------------------------------------------------------------------------- usage


def usage(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int | str | None, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return caught.value.code, out + err


def test_the_help_names_every_command_and_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one help text per line
    code, text = usage(capsys, "--help")
    assert code == 0
    assert text.startswith("usage: python -m ledger.integrity.verifier ")
    for line in (
        "\n\nVerify QP Ledger checkpoints and proofs from files (exit 0 = verified).\n\n",
        "leaf                decode a leaf file and print its hash",
        "checkpoint          verify a checkpoint's signature",
        "inclusion           verify an event's inclusion under a checkpoint",
        "consistency         verify a checkpoint extends an older one",
    ):
        assert line in text
    common = {
        "--key KEY": "verifier key, or @FILE holding it",
        "--origin ORIGIN": "expected log origin (default: the key's name)",
        "--witness-key WITNESS_KEY": (
            "a trusted witness's key, or @FILE (repeatable): the checkpoint must be cosigned"
        ),
        "--require-cosignatures N": (
            "how many of the --witness-key witnesses must have cosigned (default: all)"
        ),
        "checkpoint": "checkpoint file (the newer one, for consistency)",
    }
    own = {
        "checkpoint": {},
        "inclusion": {"--leaf LEAF": "leaf bytes file", "--proof PROOF": "proof JSON file"},
        "consistency": {
            "--proof PROOF": "proof JSON file",
            "--old OLD": "the older checkpoint file",
        },
    }
    for command, options in own.items():
        code, text = usage(capsys, command, "--help")
        assert code == 0
        assert text.startswith(f"usage: python -m ledger.integrity.verifier {command} ")
        # "  --key KEY   verifier key, or @FILE holding it": option, then its help, exactly.
        described = {}
        lines = text.splitlines()
        for at, line in enumerate(lines):
            if re.match(r"  [-\w]", line):  # an option or argument, its help beside or below
                option, _, help_text = line.strip().partition("  ")
                described[option] = help_text.strip() or lines[at + 1].strip()
        assert described == {"-h, --help": "show this help message and exit", **common, **options}
    code, text = usage(capsys, "leaf", "--help")
    assert (code, "--key" in text) == (0, False)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["checkpoint", "new.txt"],
        ["inclusion", "--key", "k", "--proof", "p", "new.txt"],
        ["inclusion", "--key", "k", "--leaf", "l", "new.txt"],
        ["consistency", "--key", "k", "--proof", "p", "new.txt"],
        ["consistency", "--key", "k", "--old", "o", "new.txt"],
        ["leaf"],
    ],
)
def test_a_missing_required_argument_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, text = usage(capsys, *args)
    assert code == 2
    assert "the following arguments are required" in text


# --------------------------------------------------------------------------- witnesses


def test_witness_cosignatures_are_checked_when_asked_for(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = (
        Cosigner("witness.test/a", bytes(32)),
        Cosigner("witness.test/b", bytes([1]) * 32),
    )
    note = Path("new.txt").read_text()
    body = note[: note.index("\n\n") + 1]
    Path("new.txt").write_text(add_cosignature(note, first.cosignature_line(body, 1_700_000_000)))
    Path("a.pub").write_text(f"{first.key}\n")
    cosigned = f"checkpoint new.txt: cosigned by 1 witness(es), 1 required: {first.key}\n"
    # A listed witness that cosigned: checked and named, then the proof as before.
    assert verify("inclusion", "--witness-key", "@a.pub") == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        cosigned.rstrip("\n"),
        "inclusion of leaf.bin at leaf index 3: VERIFIED",
    ]
    assert verify("checkpoint", "--witness-key", str(first.key)) == 0
    assert capsys.readouterr().out.endswith(cosigned)
    # By default every listed witness must have cosigned; --require-cosignatures lowers that.
    both = ["--witness-key", str(first.key), "--witness-key", str(second.key)]
    code = verify("consistency", *both)
    out, err = capsys.readouterr()
    assert code == 1 and "VERIFIED" not in out
    assert err.startswith("NOT VERIFIED: 1 of the 2 required witness cosignatures: missing ")
    assert verify("consistency", *both, "--require-cosignatures", "1") == 0
    assert "cosigned by 1 witness(es), 1 required" in capsys.readouterr().out
    # Asking for cosignatures with no witness listed can never be met.
    code = verify("checkpoint", "--require-cosignatures", "1")
    assert code == 1
    assert capsys.readouterr().err == (
        "NOT VERIFIED: 1 cosignatures required but only 0 witness key(s) given\n"
    )
    # Without --witness-key or --require-cosignatures, cosignatures are not looked at.
    assert verify("checkpoint") == 0
    assert "cosigned" not in capsys.readouterr().out


def test_the_older_checkpoint_is_held_to_the_origin_given(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "qp-ledger.test/other-log"
    Path("new.txt").write_text(sign_checkpoint(other, 7, TREE.root(), SIGNER))
    refused(
        capsys,
        verify("consistency", "--origin", other),
        f"checkpoint is for log {ORIGIN!r}, not {other!r}",
    )
    Path("old.txt").write_text(sign_checkpoint(other, 4, TREE.root(4), SIGNER))
    assert verify("consistency", "--origin", other) == 0


def test_a_text_payload_is_shown_up_to_200_characters(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = "".join(chr(ord("a") + n % 26) for n in range(300)).encode()
    Path("long.leaf").write_bytes(encode_leaf(1, "s", 1, "t", 1, b"", payload))
    assert main(["leaf", "long.leaf"]) == 0
    assert f"\npayload: 300 bytes: {payload[:200].decode()}\n" in capsys.readouterr().out
