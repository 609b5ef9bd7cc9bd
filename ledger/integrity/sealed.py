"""Sealed text: free text the log commits to by a salted digest, so it can be erased.

A person's words in an event (a ``reason``) may have to be erased (UK GDPR,
the right to erasure), but the Merkle log commits to every byte of every
event's payload: erase a byte and every proof through that leaf breaks. So
the payload never holds the words. It holds ``SealedText``: the digest

    SHA-256( "qp-ledger/sealed-text/v1" 0x00 ‖ salt ‖ UTF-8 text )

stored as ``{"_type_": "sealed_text", "_data_": "sha256:<64 hex>"}`` in the
payload's JSON, while the salt (16 random bytes) and the text live in a table
of their own, written in the event's transaction. Erasing deletes that row:
the digest, and so the leaf, every proof, checkpoint and bundle, stay as they
were, and nobody can recover the words from the digest because the salt went
with them (without a salt, a short reason could be guessed from its hash).

Events stored before sealing keep their plaintext in the payload; the leaf
format is unchanged, and a payload says by its ``_type_`` tag which of its
fields are sealed, so old leaves keep their meaning.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

from eventsourcing.persistence import Transcoding

SEAL_DOMAIN = b"qp-ledger/sealed-text/v1\x00"
SALT_BYTES = 16
#: The only fields that may be sealed and erased: words, never a fact that decides money
#: (an event's reason; an appeal's grounds, its evidence's text, the Board's determination).
ERASABLE_FIELDS: tuple[str, ...] = ("reason", "grounds", "text", "determination")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class SealedText:
    """What a payload holds in place of erasable words: their salted digest."""

    digest: str
    #: (salt, words) on a value sealed in this process and not yet stored: an aggregate
    #: that keeps words in its state (an appeal's grounds) is given them sealed, so its
    #: snapshots hold the digest only, and the store takes the row from here. Never
    #: encoded, compared or read back: what people see comes from the sealed-text table.
    opening: tuple[bytes, str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.digest, str) or not _DIGEST.fullmatch(self.digest):
            raise ValueError(f"a sealed text digest is sha256:<64 hex>, not {self.digest!r}")


def seal(text: str, salt: bytes) -> SealedText:
    return SealedText("sha256:" + hashlib.sha256(SEAL_DOMAIN + salt + text.encode()).hexdigest())


def sealing(text: str, salt: bytes) -> SealedText:
    """The sealed words, carrying their salt and words to the store (``opening``)."""
    return SealedText(seal(text, salt).digest, opening=(salt, text))


def opens(sealed: SealedText, salt: bytes, text: str) -> bool:
    """Do this salt and text give the sealed digest (constant time)?"""
    return hmac.compare_digest(seal(text, salt).digest, sealed.digest)


class SealedTextAsDigest(Transcoding):
    """How the ledger's JSON transcoder stores :class:`SealedText` (bundles read it too)."""

    type = SealedText
    name = "sealed_text"

    def encode(self, obj: SealedText) -> str:
        return obj.digest

    def decode(self, data: str) -> SealedText:
        return SealedText(data)
