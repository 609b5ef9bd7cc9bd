"""Witness cosignatures on checkpoints: C2SP ``tlog-cosignature`` v1 (Ed25519).

A checkpoint signed only by the ledger proves what the ledger said, not that
it said the same to everyone: an operator who rewrites the log can sign the
rewrite and show it to some auditors only (a *split view*). A **witness**
(``ledger.integrity.witness``) cosigns a checkpoint only if it is consistent
with every earlier one it saw, so a checkpoint cosigned by witnesses the
reader trusts is one the ledger cannot have forked without one of them
noticing. This module is the format, shared by the witness and every
verifier (https://c2sp.org/tlog-cosignature):

* a cosignature is one more signed-note line under the checkpoint::

      — <witness name> base64(key id ‖ u64 timestamp ‖ Ed25519 signature)

  4 + 8 + 64 = 76 bytes, the timestamp big-endian POSIX seconds
  (``timestamped_signature``);
* the key id is SHA-256(name ‖ 0x0A ‖ **0x04** ‖ public key)[:4] — 0x04 is
  the cosignature/v1 signature type, so a witness key can never be mistaken
  for a log key (0x01) even with the same name;
* the signed message is ``cosignature/v1\\n`` ``time <timestamp>\\n`` and
  then the whole checkpoint body (extension lines included, signatures not);
* keys are vkeys as for the log, with type 0x04:
  ``<name>+<key id hex>+base64(0x04 ‖ public key)``; the key file
  ``PRIVATE+KEY+<name>+<key id>+base64(0x04 ‖ seed)``.

Pure: no files, no clock unless the caller passes none.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
)

from ledger.integrity.checkpoint import (
    SIGNATURE_PREFIX,
    CheckpointError,
    NoteKey,
    b64decode_strict,
    note_key_id,
    parse_note_key,
    parse_private_key,
    private_key_text,
    valid_name,
)

ALG_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
#: Cosignatures dated further ahead than this (clock skew) do not count.
MAX_FUTURE_SECONDS = 600
_SIGNATURE_BYTES = 4 + 8 + 64
_MAX_LINES = 100


class CosignatureError(CheckpointError):
    """Cosignatures missing, malformed or not enough; the message names the witnesses."""


def cosigner_key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4], big-endian."""
    return note_key_id(name, ALG_COSIGNATURE_V1, public_key)


def _check_name(name: str) -> None:
    if not valid_name(name):
        raise CosignatureError(
            f"witness name {name!r:.60} must be non-empty, without spaces, '+' or "
            "control characters"
        )


def _b64decode(text: str, what: str) -> bytes:
    """Strict, canonical standard base64, as for the log's own signatures."""
    return b64decode_strict(text, what, CosignatureError)


class CosignerKey(NoteKey):
    """A witness's published key: its name, key id and Ed25519 public key."""

    def algorithm(self) -> int:
        return ALG_COSIGNATURE_V1


def parse_cosigner_key(vkey: str) -> CosignerKey:
    """Parse ``<name>+<key id>+base64(0x04 ‖ public key)``; the id must match."""
    return CosignerKey(
        *parse_note_key(
            vkey,
            what="witness key",
            algorithm=ALG_COSIGNATURE_V1,
            wrong_type="a cosignature/v1 key (type 0x04 and a 32-byte Ed25519 key)",
            check_name=_check_name,
            error=CosignatureError,
        )
    )


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a cosignature signs: the header, the time line and the checkpoint body."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature timestamp {timestamp} is outside [0, 2^63)")
    return f"{HEADER}time {timestamp}\n{body}".encode()


class Cosigner:
    """A witness's private key; ``str(cosigner.key)`` is the key to publish."""

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name)
        if len(seed) != 32:
            raise CosignatureError("an Ed25519 private key seed is 32 bytes")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes_raw()
        self.key = CosignerKey(name, cosigner_key_id(name, public), public)

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_signer_key(cls, skey: str) -> Cosigner:
        """Parse ``PRIVATE+KEY+<name>+<key id>+base64(0x04 ‖ seed)``."""
        name, hex_id, seed = parse_private_key(
            skey,
            ALG_COSIGNATURE_V1,
            CosignatureError,
            shape="witness key file must hold PRIVATE+KEY+<name>+<id>+<key>",
            what="witness private key",
            wrong="not a witness (cosignature/v1, type 0x04) private key",
        )
        cosigner = cls(name, seed)
        if f"{cosigner.key.key_id:08x}" != hex_id:
            raise CosignatureError(f"witness key id {hex_id} does not match its name and key")
        return cosigner

    def signer_key(self) -> str:
        seed = self._key.private_bytes_raw()
        return private_key_text(self.name, self.key.key_id, ALG_COSIGNATURE_V1, seed)

    def cosignature_line(self, body: str, timestamp: int) -> str:
        """The note signature line cosigning the checkpoint ``body`` at ``timestamp``."""
        signature = self._key.sign(cosigned_message(body, timestamp))
        raw = self.key.key_id.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"


class SignatureLine(NamedTuple):
    name: str
    signature: bytes  # key id ‖ the rest, as decoded


def split_note(note: str) -> tuple[str, list[SignatureLine]]:
    """A signed note's body and its signature lines, checked for form only."""
    if not isinstance(note, str) or any(ord(c) < 0x20 and c != "\n" for c in note):
        raise CosignatureError("a note must be text without control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CosignatureError("note has no blank line before its signatures, or no final newline")
    body, block = note[: split + 1], note[split + 2 : -1]
    lines = block.split("\n")
    if len(lines) > _MAX_LINES:
        raise CosignatureError(f"note has more than {_MAX_LINES} signatures")
    out = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise CosignatureError(f"signature line must start with '— ': {line[:40]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        _check_name(name)
        signature = _b64decode(encoded, f"signature by {name}")
        if len(signature) < 5:
            raise CosignatureError(f"signature by {name} is too short")
        out.append(SignatureLine(name, signature))
    return body, out


def add_cosignature(note: str, line: str) -> str:
    """The note with one more signature line (a note already ends in a newline)."""
    split_note(note)
    return note + line


class Cosignature(NamedTuple):
    key: CosignerKey
    timestamp: int


def check_cosignatures(
    note: str, keys: Iterable[CosignerKey | str], now: float | None = None
) -> tuple[list[Cosignature], list[str]]:
    """The listed witnesses that validly cosigned the note, and what is wrong with the others.

    Lines under no listed (name, key id) are skipped: a note may carry any
    number of signatures, and only the reader's list decides which count. A
    line that claims a listed key but does not verify, has the wrong length,
    or is dated in the future is reported, not counted.
    """
    listed: dict[tuple[str, int], CosignerKey] = {}
    for given in keys:
        parsed = parse_cosigner_key(given) if isinstance(given, str) else given
        listed[(parsed.name, parsed.key_id)] = parsed
    body, lines = split_note(note)
    horizon = (time.time() if now is None else now) + MAX_FUTURE_SECONDS
    valid: dict[CosignerKey, Cosignature] = {}
    problems = []
    for line in lines:
        key = listed.get((line.name, int.from_bytes(line.signature[:4], "big")))
        if key is None or key in valid:
            continue
        if len(line.signature) != _SIGNATURE_BYTES:
            problems.append(f"the cosignature by {key} is {len(line.signature)} bytes, not 76")
            continue
        timestamp = int.from_bytes(line.signature[4:12], "big")
        if timestamp > MAX_TIMESTAMP or timestamp > horizon:
            problems.append(f"the cosignature by {key} is dated in the future ({timestamp})")
            continue
        if not key.verify(cosigned_message(body, timestamp), line.signature[12:]):
            problems.append(f"the cosignature by {key} does not verify")
            continue
        valid[key] = Cosignature(key, timestamp)
    return list(valid.values()), problems


def verify_cosignatures(
    note: str,
    witness_keys: Sequence[CosignerKey | str],
    required: int = 1,
    now: float | None = None,
) -> list[Cosignature]:
    """At least ``required`` distinct listed witnesses cosigned ``note``; else CosignatureError.

    Distinct means distinct keys: the same key listed twice, or two lines by
    one witness, count once. Only the cosignatures are checked here; the
    log's own signature is ``verify_checkpoint``'s job.
    """
    if isinstance(required, bool) or not isinstance(required, int) or required < 0:
        raise CosignatureError(f"required cosignatures must be a count, not {required!r}")
    keys = [parse_cosigner_key(k) if isinstance(k, str) else k for k in witness_keys]
    if required > len(set(keys)):
        raise CosignatureError(
            f"{required} cosignatures required but only {len(set(keys))} witness key(s) given"
        )
    valid, problems = check_cosignatures(note, keys, now)
    if len(valid) >= required:
        return valid
    have = {c.key for c in valid}
    missing = [str(k) for k in dict.fromkeys(keys) if k not in have]
    detail = "; ".join(problems) if problems else "no cosignature line from them"
    raise CosignatureError(
        f"{len(valid)} of the {required} required witness cosignatures: missing "
        f"{', '.join(missing)} ({detail})"
    )
