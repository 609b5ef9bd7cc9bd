"""Ed25519-signed checkpoints in the C2SP ``tlog-checkpoint`` / ``signed-note`` format.

A checkpoint is a signed note whose text is::

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, standard base64>\\n
    [extension lines]\\n

followed by a blank line and one or more signature lines::

    — <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature)>\\n

The signature is over the note text (the body, including its final newline).
The key id is the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public
key), as in golang.org/x/mod/sumdb/note, whose key strings we also use:

* verifier key: ``<name>+<8 hex digits key id>+<base64(0x01 ‖ 32-byte public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ 32-byte seed)>``

so a key file made here works with Go's ``note.NewSigner`` and the published
verifier key with ``note.NewVerifier`` and checkpoint tools built on them.
Everything here is pure; the key file on disk is :mod:`ledger.integrity.key_files`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space start every signature line
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_MAX_SIGNATURES = 100  # as golang.org/x/mod/sumdb/note: refuse notes stuffed with lines
_U64_MAX = 2**64 - 1


class CheckpointError(ValueError):
    """A checkpoint, note or key that cannot be trusted; the message says why."""


class Checkpoint(NamedTuple):
    origin: str
    size: int
    root: bytes


def key_id(name: str, public_key: bytes) -> int:
    """First 4 bytes (big-endian) of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)."""
    return note_key_id(name, ALG_ED25519, public_key)


def note_key_id(name: str, algorithm: int, public_key: bytes) -> int:
    """A signed note key's id: SHA-256(name ‖ 0x0A ‖ algorithm ‖ public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def valid_name(name: object) -> bool:
    """A key name as signed notes allow it: non-empty, no spaces, '+' or control characters."""
    return (
        isinstance(name, str)
        and bool(name)
        and "+" not in name
        and not any(c.isspace() for c in name)
        and _printable(name)
    )


def _check_name(name: str) -> None:
    if not valid_name(name):
        raise CheckpointError(
            f"key name {name!r} must be non-empty, without spaces, '+' or control characters"
        )


def _printable(text: str) -> bool:
    return not any(ord(c) < 0x20 and c != "\n" for c in text)


def b64decode_strict(text: str, what: str, error: type[Exception] = CheckpointError) -> bytes:
    """Strict, canonical standard base64: one encoding per value, nothing malleable."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise error(f"{what} is not canonical base64")
    return raw


_b64decode = b64decode_strict


class PrivateKeyText(NamedTuple):
    """A signed-note private key file's fields: ``PRIVATE+KEY+<name>+<id>+base64(alg ‖ seed)``."""

    name: str
    hex_id: str
    seed: bytes


def parse_private_key(
    skey: str, algorithm: int, error: type[Exception], shape: str, what: str, wrong: str
) -> PrivateKeyText:
    """The fields of a private key of ``algorithm``; ``error`` with the caller's words if not.

    The log's signer (0x01) and the witnesses (0x04) keep their keys this way;
    each checks the key id against its own key after building it.
    """
    text = skey.strip()
    parts = text.removeprefix(_PRIVATE_PREFIX).split("+", 2)
    if not text.startswith(_PRIVATE_PREFIX) or len(parts) != 3:
        raise error(shape)
    name, hex_id, encoded = parts
    raw = b64decode_strict(encoded, what, error)
    if len(raw) != 33 or raw[0] != algorithm:
        raise error(wrong)
    return PrivateKeyText(name, hex_id, raw[1:])


def private_key_text(name: str, key_id: int, algorithm: int, seed: bytes) -> str:
    encoded = base64.b64encode(bytes([algorithm]) + seed).decode()
    return f"{_PRIVATE_PREFIX}{name}+{key_id:08x}+{encoded}"


class NoteKey(NamedTuple):
    """A signed note's public key: who signs, with which Ed25519 key."""

    name: str
    key_id: int
    public_key: bytes

    def algorithm(self) -> int:
        """The key type byte in front of the public key: 0x01, a log's (0x04, a witness's)."""
        return ALG_ED25519

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([self.algorithm()]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Verifier(NoteKey):
    """A parsed verifier key: who signs the log's checkpoints, with which key."""


def parse_note_key(
    vkey: object,
    *,
    what: str,
    algorithm: int,
    wrong_type: str,
    check_name: Callable[[str], None],
    error: type[Exception],
) -> tuple[str, int, bytes]:
    """Parse ``<name>+<key id hex>+<base64(algorithm ‖ public key)>``; the id must match."""
    if not isinstance(vkey, str):
        raise error(f"{what} must be text")
    parts = vkey.strip().split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise error(f"{what} must look like <name>+<key id>+<base64 key>")
    name, hex_id, encoded = parts
    check_name(name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise error(f"{what} id must be 8 lowercase hex digits")
    raw = b64decode_strict(encoded, what, error)
    if len(raw) != 33 or raw[0] != algorithm:
        raise error(f"{what} is not {wrong_type}")
    if note_key_id(name, algorithm, raw[1:]) != int(hex_id, 16):
        raise error(f"{what} id {hex_id} does not match its name and key")
    return name, int(hex_id, 16), raw[1:]


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse ``<name>+<key id hex>+<base64(0x01 ‖ public key)>``; the id must match."""
    return Verifier(
        *parse_note_key(
            vkey,
            what="verifier key",
            algorithm=ALG_ED25519,
            wrong_type="an Ed25519 (algorithm 0x01) key",
            check_name=_check_name,
            error=CheckpointError,
        )
    )


class Signer:
    """An Ed25519 note signer; ``str(signer.verifier)`` is the key to publish."""

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name)
        if len(seed) != 32:
            raise CheckpointError("an Ed25519 private key seed is 32 bytes")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes_raw()
        self.verifier = Verifier(name, key_id(name, public), public)
        #: The key's file, if it has one: the last signed head is kept beside it
        #: (ledger.integrity.signed_head); a key made in memory keeps it here.
        self.key_file: Path | None = None
        self.last_note: str | None = None

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_signer_key(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>``."""
        name, hex_id, seed = parse_private_key(
            skey,
            ALG_ED25519,
            CheckpointError,
            shape="signer key must look like PRIVATE+KEY+<name>+<id>+<key>",
            what="signer key",
            wrong="signer key is not an Ed25519 (algorithm 0x01) key",
        )
        signer = cls(name, seed)
        if f"{signer.verifier.key_id:08x}" != hex_id:
            raise CheckpointError(f"signer key id {hex_id} does not match its name and key")
        return signer

    def signer_key(self) -> str:
        seed = self._key.private_bytes_raw()
        return private_key_text(self.name, self.verifier.key_id, ALG_ED25519, seed)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


# -- notes and checkpoints ---------------------------------------------------


def sign_note(text: str, signer: Signer) -> str:
    """A signed note: ``text``, a blank line, and this signer's signature line."""
    if not text.endswith("\n") or "\n\n" in text or not _printable(text):
        raise CheckpointError(
            "note text must end in a newline, have no blank lines and no control characters"
        )
    signature = signer.verifier.key_id.to_bytes(4, "big") + signer.sign(text.encode())
    return f"{text}\n{SIGNATURE_PREFIX}{signer.name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, verifier: Verifier | str) -> str:
    """The note's text, if ``verifier`` signed it; raise :class:`CheckpointError` otherwise.

    Signatures by other keys are skipped (a note may carry cosignatures); a
    signature line under this key's name and id that does not verify is an
    error, as is any malformed line.
    """
    if isinstance(verifier, str):
        verifier = parse_verifier_key(verifier)
    if not isinstance(note, str):
        raise CheckpointError("a note must be text")
    try:
        note.encode()
    except UnicodeEncodeError:
        raise CheckpointError("note is not valid UTF-8 text") from None
    if not _printable(note):
        raise CheckpointError("note contains control characters")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise CheckpointError("note's signature block must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckpointError(f"note has more than {_MAX_SIGNATURES} signatures")
    verified = False
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError(f"signature line must start with '— ': {line[:40]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        _check_name(name)
        signature = _b64decode(encoded, "signature")
        if len(signature) < 5:
            raise CheckpointError("signature is too short")
        if name != verifier.name or int.from_bytes(signature[:4], "big") != verifier.key_id:
            continue
        if len(signature) != 68 or not verifier.verify(text.encode(), signature[4:]):
            raise CheckpointError(f"signature by {name} does not verify")
        verified = True
    if not verified:
        raise CheckpointError(f"note is not signed by {verifier.name}+{verifier.key_id:08x}")
    return text


def checkpoint_body(origin: str, size: int, root: bytes, extensions: tuple[str, ...] = ()) -> str:
    if not origin or "\n" in origin or not _printable(origin):
        raise CheckpointError("origin must be one non-empty line")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _U64_MAX:
        raise CheckpointError(f"tree size must fit in 64 unsigned bits, not {size!r}")
    if len(root) != 32:
        raise CheckpointError("root hash must be 32 bytes")
    for line in extensions:
        if not line or "\n" in line:
            raise CheckpointError("extension lines must be single non-empty lines")
    lines = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    return "".join(f"{line}\n" for line in lines)


def parse_checkpoint_body(text: str) -> tuple[Checkpoint, tuple[str, ...]]:
    """Origin, size, root and any extension lines of a checkpoint body."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint body must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs an origin, a tree size and a root hash")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise CheckpointError("checkpoint origin is empty")
    if (
        not size_text.isascii()
        or not size_text.isdigit()
        or (size_text != "0" and size_text.startswith("0"))
        or len(size_text) > 20
        or int(size_text) > _U64_MAX
    ):
        raise CheckpointError(
            f"checkpoint tree size {size_text[:30]!r} is not a uint64 in canonical decimal"
        )
    root = _b64decode(root_text, "checkpoint root hash")
    if len(root) != 32:
        raise CheckpointError(f"checkpoint root hash is {len(root)} bytes, not 32")
    if any(not line for line in extensions):
        raise CheckpointError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, int(size_text), root), tuple(extensions)


def sign_checkpoint(
    origin: str, size: int, root: bytes, key: Signer, extensions: tuple[str, ...] = ()
) -> str:
    """The signed checkpoint note for a tree of ``size`` leaves with ``root``."""
    return sign_note(checkpoint_body(origin, size, root, extensions), key)


def verify_checkpoint(
    text: str, verifier_key: Verifier | str, origin: str | None = None
) -> Checkpoint:
    """(origin, size, root) of a checkpoint signed by ``verifier_key``, or CheckpointError.

    The origin line must be the expected ``origin`` — by default the key's
    name, which is how this ledger names its log — so a checkpoint of another
    log signed with the same key is refused (C2SP tlog-checkpoint: clients
    check the origin).
    """
    verifier = parse_verifier_key(verifier_key) if isinstance(verifier_key, str) else verifier_key
    checkpoint, _ = parse_checkpoint_body(open_note(text, verifier))
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {expected!r}")
    return checkpoint
