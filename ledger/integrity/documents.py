"""The documents an auditor is handed: checkpoints, proofs and leaves, as JSON-ready dicts.

``qp-ledger checkpoint|proof|leaf`` and the API's ``/log/…`` endpoints both
build their answers here, so the two never disagree. Hashes are standard
base64 (as in the checkpoint note and RFC 9162's JSON), proof files use
RFC 9162's field names, and :mod:`ledger.integrity.verifier` reads them as
they are (``load_inclusion_proof``, ``load_consistency_proof``). Events are
named by their log **position**; proofs are about **leaf indices** (the
event's rank in the log), and every document gives both.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, select

from ledger.integrity.checkpoint import Signer
from ledger.integrity.leaf import FORMAT_TAG, decode_leaf
from ledger.integrity.log import IntegrityLog, TreeHead
from ledger.integrity.merkle import TreeSizeError, leaf_hash
from ledger.integrity.signed_head import health, sign_head

#: Positions are 64-bit signed in the database (PostgreSQL BIGINT).
_MAX_POSITION = 2**63 - 1


class LogRequestError(ValueError):
    """A request the log cannot answer; ``field`` names the bad input."""

    def __init__(self, message: str, field: str, allowed: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field, self.allowed = message, field, allowed


class UnknownPosition(LogRequestError):
    """No event of the Merkle log is at this position."""


class DamagedEvent(LogRequestError):
    """The stored event has values the ledger never writes: edited by hand."""


class InvalidTreeSize(LogRequestError):
    """A tree size (or pair of sizes) the log cannot give a proof for."""


class _Recorder(Protocol):
    """What is needed of ``LedgerRecorder``: the log, the recorded-time index, the engine."""

    integrity: IntegrityLog
    index: Table

    @property
    def datastore(self) -> Any: ...


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def sha256_hex(value: bytes) -> str:
    """The form decision documents use for a root (``log.root_hash``)."""
    return "sha256:" + value.hex()


class LogDocuments:
    """Checkpoints, proofs and leaves of one ledger's Merkle log.

    Each method reads through one connection, a fixed number of statements
    whatever the log's size (the tree is never rebuilt).
    """

    def __init__(self, store: _Recorder) -> None:
        self.log = store.integrity
        self.index = store.index
        engine = store.datastore.engine
        assert isinstance(engine, Engine)
        self.engine = engine

    def connect(self) -> Connection:
        return self.engine.connect()

    def tree_head(self) -> TreeHead:
        with self.connect() as conn:
            return self.log.tree_head(conn)

    # -- checkpoints -----------------------------------------------------------------

    def checkpoint(self, signer: Signer) -> dict[str, Any]:
        """The latest tree head, signed: the note itself and its parts.

        Refused (:class:`~ledger.integrity.signed_head.SigningRefused`) when the
        head does not extend the last one this key signed: a rewritten log is
        never signed.
        """
        with self.connect() as conn:
            note, size, root = sign_head(
                signer,
                lambda: self.log.tree_head(conn),
                lambda a, b: self.log.consistency_proof(conn, a, b),
            )
        return {
            "origin": signer.name,
            "tree_size": size,
            "root_hash": b64(root),
            # Exactly a decision document's "log": compare the two directly.
            "log": {"tree_size": size, "root_hash": sha256_hex(root)},
            "checkpoint": note,
            "verifier_key": str(signer.verifier),
        }

    def signer_health(self, key_file: Path) -> dict[str, Any]:
        """Would the key in ``key_file`` sign today's head? (``/health``'s ``signer``)."""
        with self.connect() as conn:
            size, root = self.log.tree_head(conn)
            return health(key_file, size, root, lambda a, b: self.log.consistency_proof(conn, a, b))

    @staticmethod
    def verifier_key(signer: Signer) -> dict[str, Any]:
        verifier = signer.verifier
        return {
            "origin": signer.name,
            "verifier_key": str(verifier),
            "key_id": f"{verifier.key_id:08x}",
            "algorithm": "Ed25519",
            "public_key": b64(verifier.public_key),
        }

    # -- proofs ------------------------------------------------------------------------

    def inclusion(self, position: int, tree_size: int | None = None) -> dict[str, Any]:
        """The inclusion proof of the event at ``position`` in the tree of ``tree_size``."""
        with self.connect() as conn:
            current = self.log.tree_size(conn)
            index = self._leaf_index(conn, position)
            size = current if tree_size is None else self._size(tree_size, current, "tree_size")
            if index >= size:
                raise InvalidTreeSize(
                    f"tree_size: the event at position {position} is leaf {index}, so it is "
                    f"in trees of size {index + 1} and more, not {size}",
                    "tree_size",
                    f"{index + 1}..{current}",
                )
            lv = self.log.leaves.c
            stored = conn.execute(select(lv.leaf_hash).where(lv.leaf_index == index)).scalar_one()
            path = self.log.inclusion_proof(conn, index, size)
            root = self.log.tree_head(conn, size).root
        return {
            "position": position,
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": b64(bytes(stored)),
            "inclusion_path": [b64(h) for h in path],
            "root_hash": b64(root),
        }

    def consistency(self, first: int, second: int | None = None) -> dict[str, Any]:
        """The consistency proof that the tree of ``second`` extends the tree of ``first``."""
        with self.connect() as conn:
            current = self.log.tree_size(conn)
            size1 = self._size(first, current, "first")
            size2 = current if second is None else self._size(second, current, "second")
            if size1 > size2:
                raise InvalidTreeSize(
                    f"first: tree size {size1} is larger than second, {size2}; a log only grows",
                    "first",
                    f"0..{size2}",
                )
            path = self.log.consistency_proof(conn, size1, size2)
            root1 = self.log.tree_head(conn, size1).root
            root2 = self.log.tree_head(conn, size2).root
        return {
            "tree_size_1": size1,
            "tree_size_2": size2,
            "consistency_path": [b64(h) for h in path],
            "root_hash_1": b64(root1),
            "root_hash_2": b64(root2),
        }

    # -- leaves ------------------------------------------------------------------------

    def leaf_bytes(self, position: int) -> tuple[int, bytes]:
        """(leaf index, canonical leaf bytes) of the event at ``position``, from its stored row."""
        with self.connect() as conn:
            index = self._leaf_index(conn, position)
            try:
                data = self.log.leaf_bytes(conn, position, self.index)
            except TreeSizeError:
                raise UnknownPosition(
                    f"position {position}: the Merkle log has a leaf for it, but the event "
                    "or its recorded time is gone (run `qp-ledger verify`)",
                    "position",
                ) from None
            except (TypeError, ValueError) as e:
                raise DamagedEvent(
                    f"position {position}: the stored event cannot be encoded ({e}); it was "
                    "changed outside the ledger (run `qp-ledger verify`)",
                    "position",
                ) from None
        return index, data

    def leaf(self, position: int, encoding: str = "base64") -> dict[str, Any]:
        """The leaf bytes of an event (base64 or hex), its hash and its decoded fields."""
        index, data = self.leaf_bytes(position)
        event = decode_leaf(data)
        encode = b64 if encoding == "base64" else bytes.hex
        return {
            "position": position,
            "leaf_index": index,
            "format": FORMAT_TAG.decode(),
            "encoding": encoding,
            "leaf": encode(data),
            "leaf_hash": b64(leaf_hash(data)),
            "fields": {
                "position": event.position,
                "stream_id": event.stream_id,
                "version": event.version,
                "topic": event.topic,
                "recorded_us": event.recorded_us,
                "previous_hash": b64(event.previous_hash) if event.previous_hash else None,
                "payload": encode(event.payload),
            },
        }

    # -- checks ------------------------------------------------------------------------

    def _leaf_index(self, conn: Connection, position: int) -> int:
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise UnknownPosition(
                f"position: {position!r} is not a log position (1 or more)", "position"
            )
        if position > _MAX_POSITION:
            raise UnknownPosition(f"position {position} is not in the Merkle log", "position")
        try:
            return self.log.leaf_index(conn, position)
        except ValueError:
            raise UnknownPosition(
                f"position {position} is not in the Merkle log", "position"
            ) from None

    @staticmethod
    def _size(size: int, current: int, field: str) -> int:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= current:
            raise InvalidTreeSize(
                f"{field}: tree size {size!r} is not in 0..{current} (the log has "
                f"{current} events)",
                field,
                f"0..{current}",
            )
        return size
