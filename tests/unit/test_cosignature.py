"""C2SP tlog-cosignature v1: the format, and who counts as having cosigned (issue 11 item 2).

The layout is checked against the spec's own words, written out here
independently of the code: the key id over type 0x04, the 76-byte
``key id ‖ u64 timestamp ‖ signature``, the signed message
``cosignature/v1\\ntime <t>\\n<body>``; and the spec's example line decodes
to the timestamp its example message shows. Then the reader's side: only
listed keys count, each once; one byte changed anywhere in a cosignature
and it does not count; N of them are required.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.integrity.checkpoint import Signer, sign_checkpoint, verify_checkpoint
from ledger.integrity.cosignature import (
    CosignatureError,
    Cosigner,
    check_cosignatures,
    cosigned_message,
    cosigner_key_id,
    parse_cosigner_key,
    split_note,
    verify_cosignatures,
)

ORIGIN = "qp-ledger.test/log"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def log() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture(scope="module")
def witnesses() -> list[Cosigner]:
    return [Cosigner(f"auditor{n}.example/w", bytes([n]) * 32) for n in range(1, 4)]


def checkpoint(log: Signer, size: int = 7) -> str:
    return sign_checkpoint(ORIGIN, size, hashlib.sha256(str(size).encode()).digest(), log)


def cosigned(note: str, *by: Cosigner, at: int = NOW) -> str:
    body = note[: note.rfind("\n\n") + 1]
    return note + "".join(w.cosignature_line(body, at) for w in by)


def test_the_line_is_key_id_timestamp_signature_over_the_spec_message(
    log: Signer, witnesses: list[Cosigner]
) -> None:
    witness = witnesses[0]
    note = checkpoint(log)
    body = note[: note.rfind("\n\n") + 1]
    line = witness.cosignature_line(body, 1679315147)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(encoded)
    public = witness.key.public_key
    expected_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    assert name == witness.name
    assert len(raw) == 76 and raw[:4] == expected_id
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)  # raises if not
    assert cosigned_message(body, 1679315147) == message


def test_the_spec_example_line_carries_the_time_of_the_spec_example_message() -> None:
    example = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZC"
        "B9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    _, lines = split_note(example)
    (line,) = lines
    assert line.name == "witness.example.com/w1" and len(line.signature) == 76
    assert int.from_bytes(line.signature[4:12], "big") == 1679315147  # "time 1679315147"


def test_witness_keys_are_type_0x04_vkeys_and_never_log_keys(
    log: Signer, witnesses: list[Cosigner]
) -> None:
    key = witnesses[0].key
    text = str(key)
    name, hex_id, encoded = text.split("+", 2)
    assert base64.b64decode(encoded)[0] == 0x04
    assert int(hex_id, 16) == cosigner_key_id(name, key.public_key) == key.key_id
    assert parse_cosigner_key(text) == key
    assert Cosigner.from_signer_key(witnesses[0].signer_key()).key == key
    with pytest.raises(CosignatureError, match="not a cosignature/v1 key"):
        parse_cosigner_key(str(log.verifier))  # a log key (0x01) is not a witness key
    with pytest.raises(CosignatureError, match="does not match"):
        parse_cosigner_key(f"other.example/w+{hex_id}+{encoded}")


def test_a_cosigned_checkpoint_still_verifies_as_the_logs(
    log: Signer, witnesses: list[Cosigner]
) -> None:
    note = cosigned(checkpoint(log), *witnesses)
    assert verify_checkpoint(note, log.verifier).size == 7
    found = verify_cosignatures(note, [w.key for w in witnesses], 3, now=NOW)
    assert {c.key for c in found} == {w.key for w in witnesses}
    assert {c.timestamp for c in found} == {NOW}


def test_only_listed_witnesses_count_and_each_once(log: Signer, witnesses: list[Cosigner]) -> None:
    one, two, stranger = witnesses
    note = cosigned(checkpoint(log), one, one, stranger)
    assert len(verify_cosignatures(note, [one.key, two.key], 1, now=NOW)) == 1
    with pytest.raises(CosignatureError, match=re.escape(f"missing {two.key}")):
        verify_cosignatures(note, [one.key, two.key], 2, now=NOW)
    with pytest.raises(CosignatureError, match="only 1 witness key"):
        verify_cosignatures(note, [one.key, str(one.key)], 2, now=NOW)
    # A stranger's line under a listed witness's *name* does not count for it.
    impostor = Cosigner(two.name, b"\x09" * 32)
    with pytest.raises(CosignatureError, match="0 of the 1 required"):
        verify_cosignatures(cosigned(checkpoint(log), impostor), [two.key], 1, now=NOW)


def test_one_byte_changed_anywhere_in_a_cosignature_and_it_does_not_count(
    log: Signer, witnesses: list[Cosigner]
) -> None:
    witness = witnesses[0]
    note = checkpoint(log)
    line = cosigned(note, witness)[len(note) :]
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    for i in range(4, len(raw)):  # bytes 0-3 are the key id: changed, the line is a stranger's
        for flip in (0x01, 0x80):
            forged = raw[:i] + bytes([raw[i] ^ flip]) + raw[i + 1 :]
            text = f"{note}{prefix} {base64.b64encode(forged).decode()}\n"
            valid, problems = check_cosignatures(text, [witness.key], now=2**63)
            assert not valid, (i, flip)
            assert problems, (i, flip)


def test_a_cosignature_does_not_move_to_another_checkpoint(
    log: Signer, witnesses: list[Cosigner]
) -> None:
    witness = witnesses[0]
    line = cosigned(checkpoint(log, 7), witness)[len(checkpoint(log, 7)) :]
    other = checkpoint(log, 8) + line
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignatures(other, [witness.key], 1, now=NOW)


def test_a_cosignature_dated_in_the_future_does_not_count(
    log: Signer, witnesses: list[Cosigner]
) -> None:
    note = cosigned(checkpoint(log), witnesses[0], at=NOW + 3600)
    with pytest.raises(CosignatureError, match="dated in the future"):
        verify_cosignatures(note, [witnesses[0].key], 1, now=NOW)
    assert verify_cosignatures(note, [witnesses[0].key], 1, now=NOW + 3600)


@pytest.mark.parametrize(
    "tail",
    [
        "\u2014 w AAAA\n",  # too short to hold a key id
        "- w AAAAAAAA\n",  # not an em dash
        "\u2014 w AAAAAAB=\n",  # not canonical base64 (padding bits set)
        "\u2014 w !!!!\n",  # not base64
        "\u2014 w+x AAAAAAAA\n",  # '+' in a name
    ],
)
def test_malformed_signature_lines_are_refused(log: Signer, tail: str) -> None:
    with pytest.raises(CosignatureError):
        verify_cosignatures(checkpoint(log) + tail, [], 0)


def test_zero_required_is_satisfied_by_nothing_and_negative_is_refused(log: Signer) -> None:
    assert verify_cosignatures(checkpoint(log), [], 0) == []
    with pytest.raises(CosignatureError, match="must be a count"):
        verify_cosignatures(checkpoint(log), [], -1)
