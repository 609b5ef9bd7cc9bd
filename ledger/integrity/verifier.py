"""Verify the ledger's proofs from files alone: no database, no trust in the operator.

Pure functions an auditor (or a CCG) runs on what the ledger hands out:

* :func:`verify_inclusion` — RFC 9162 §2.1.3.2: this leaf is at this index of
  the tree with this root;
* :func:`verify_consistency` — RFC 9162 §2.1.4.2: the tree with root2 extends
  the tree with root1 (nothing before size1 was changed or removed);
* :func:`verify_checkpoint` — the checkpoint (size, root) is signed by the
  ledger's published key (C2SP signed note, Ed25519);
* :func:`verify_cosignatures` — N witnesses the reader trusts cosigned it
  (C2SP tlog-cosignature, ``ledger.integrity.cosignature``).

Outcomes: ``True`` — proven. ``False`` — a well-formed proof that does not
hash to the root: the leaf, the proof or the root has been altered.
:class:`ProofError` — the input cannot be a proof at all (wrong types, hashes
that are not 32 bytes, sizes outside uint64, index >= size, size1 > size2, a
path of the wrong length for the sizes); its message says which. Both
non-``True`` outcomes mean "not proven". Nothing else is raised, whatever
the input.

Run ``python -m ledger.integrity.verifier --help`` for the command-line form
(proof files are JSON with RFC 9162's field names; see docs/integrity.md).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledger.integrity.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from ledger.integrity.cosignature import verify_cosignatures
from ledger.integrity.leaf import decode_leaf
from ledger.integrity.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE, leaf_hash, node_hash

__all__ = [
    "CheckpointError",
    "ProofError",
    "consistency_path_length",
    "inclusion_path_length",
    "leaf_hash",
    "root_from_inclusion_proof",
    "verify_checkpoint",
    "verify_consistency",
    "verify_cosignatures",
    "verify_inclusion",
]


class ProofError(ValueError):
    """Input that cannot be a proof for the sizes given; the message says why."""


def _size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TREE_SIZE:
        raise ProofError(f"{what} must be an integer in [0, 2^64), not {value!r:.40}")
    return value


def _hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        shown = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else type(value)
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, not {shown}")
    return bytes(value)


def _path(proof: object, expected: int, what: str) -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise ProofError(f"{what} must be a list of hashes, not {type(proof).__name__}")
    if len(proof) != expected:
        raise ProofError(f"{what} has {len(proof)} hashes; these sizes need {expected}")
    return [_hash(p, f"{what}[{i}]") for i, p in enumerate(proof)]


def inclusion_path_length(index: int, size: int) -> int:
    """How many hashes an inclusion path for ``index`` in a tree of ``size`` has."""
    # Below the level where index and size-1 meet, every level has a sibling;
    # above it, only the levels where the path comes in from the right do.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_path_length(size1: int, size2: int) -> int:
    """How many hashes a consistency path from ``size1`` to ``size2`` has (0 < size1 < size2)."""
    level = (size1 & -size1).bit_length() - 1
    index = (size1 >> level) - 1
    seed = 0 if index == 0 else 1
    return seed + inclusion_path_length(index, ((size2 - 1) >> level) + 1)


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` (RFC 9162 §2.1.3.2 steps 1-4)."""
    leaf = _hash(leaf, "leaf hash")
    size = _size(size, "tree size")
    index = _size(index, "leaf index")
    if index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    path = _path(proof, inclusion_path_length(index, size), "inclusion path")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:  # unreachable once the length is right; kept as the RFC's step 4a
            raise ProofError("inclusion path is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion path is too short")
    return r


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Does ``proof`` show the leaf hash ``leaf`` at ``index`` of the tree (tree_size, root)?"""
    root = _hash(root, "root hash")
    return hmac.compare_digest(root_from_inclusion_proof(leaf, index, tree_size, proof), root)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Does ``proof`` show tree (size2, root2) is an append-only extension of (size1, root1)?

    RFC 9162 §2.1.4.2, plus its trivial cases: equal sizes need an empty proof
    and equal roots; size1 = 0 needs an empty proof and root1 = the empty root.
    """
    size1, size2 = _size(size1, "first tree size"), _size(size2, "second tree size")
    root1, root2 = _hash(root1, "first root hash"), _hash(root2, "second root hash")
    if size1 > size2:
        raise ProofError(f"first tree size {size1} is larger than the second, {size2}")
    if size1 == size2 or size1 == 0:
        _path(proof, 0, "consistency path")
        expected = root2 if size1 == size2 else EMPTY_ROOT
        return hmac.compare_digest(root1, expected)
    path = _path(proof, consistency_path_length(size1, size2), "consistency path")
    if size1 & (size1 - 1) == 0:  # step 2: an exact power of two is its own seed
        path = [root1, *path]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, root1) and hmac.compare_digest(sr, root2)


# -- proof files ---------------------------------------------------------------


def decode_base64(value: object, what: str, error: type[ValueError] = ProofError) -> bytes:
    """Canonical standard base64 only, or ``error`` naming ``what``.

    No stray characters, and no second spelling of the same bytes (padding
    bits set): every character of a proof file counts. Evidence bundles check
    their base64 with this too, raising their own error.
    """
    if not isinstance(value, str):
        raise error(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(f"{what} is not base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise error(f"{what} is not canonical base64")
    return raw


def _field(document: object, name: str) -> Any:
    if not isinstance(document, dict) or name not in document:
        raise ProofError(f"proof document has no {name!r}")
    return document[name]


def load_inclusion_proof(document: object) -> tuple[int, int, list[bytes]]:
    """``{"leaf_index", "tree_size", "inclusion_path": [base64, ...]}`` -> (index, size, path)."""
    path = _field(document, "inclusion_path")
    if not isinstance(path, list):
        raise ProofError("inclusion_path must be a list")
    hashes = [decode_base64(p, f"inclusion_path[{i}]") for i, p in enumerate(path)]
    return _field(document, "leaf_index"), _field(document, "tree_size"), hashes


def load_consistency_proof(document: object) -> tuple[int, int, list[bytes]]:
    """``{"tree_size_1", "tree_size_2", "consistency_path": [...]}`` -> (size1, size2, path)."""
    path = _field(document, "consistency_path")
    if not isinstance(path, list):
        raise ProofError("consistency_path must be a list")
    hashes = [decode_base64(p, f"consistency_path[{i}]") for i, p in enumerate(path)]
    return _field(document, "tree_size_1"), _field(document, "tree_size_2"), hashes


# -- command line ----------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ProofError(f"{path} is not UTF-8 text") from None


def _read_key(value: str) -> str:
    return _read_text(value[1:]).strip() if value.startswith("@") else value


def _read_json(path: str) -> object:
    try:
        return json.loads(_read_text(path))
    except RecursionError:
        raise ProofError(f"{path} is nested too deeply to be a proof") from None


def _checkpoint(path: str, key: str, origin: str | None) -> Checkpoint:
    cp = verify_checkpoint(_read_text(path), _read_key(key), origin)
    print(
        f"checkpoint {path}: signed by the key; origin {cp.origin}, tree size {cp.size}, "
        f"root {cp.root.hex()}"
    )
    return cp


def _cosigned(path: str, keys: list[str], required: int | None) -> None:
    """At least ``required`` (default: all) of the witnesses ``keys`` cosigned the checkpoint."""
    witnesses = [_read_key(key) for key in keys]
    count = len(set(witnesses)) if required is None else required
    cosigned = verify_cosignatures(_read_text(path), witnesses, count)
    names = ", ".join(str(c.key) for c in cosigned)
    print(f"checkpoint {path}: cosigned by {len(cosigned)} witness(es), {count} required: {names}")


def _show(value: bytes) -> str:
    try:
        return f"{len(value)} bytes: {value.decode()[:200]}"
    except UnicodeDecodeError:
        return f"{len(value)} bytes"


def _run(args: argparse.Namespace) -> bool:
    if args.command == "leaf":
        data = Path(args.leaf).read_bytes()
        for name, value in decode_leaf(data).__dict__.items():
            shown = (
                _show(value)
                if name == "payload"
                else value.hex()
                if name == "previous_hash"
                else value
            )
            print(f"{name}: {shown}")
        print(f"leaf hash: {leaf_hash(data).hex()}")
        return True
    cp = _checkpoint(args.checkpoint, args.key, args.origin)
    if args.witness_key or args.require_cosignatures is not None:
        _cosigned(args.checkpoint, args.witness_key or [], args.require_cosignatures)
    if args.command == "checkpoint":
        return True
    proof = _read_json(args.proof)
    if args.command == "inclusion":
        data = Path(args.leaf).read_bytes()
        decode_leaf(data)  # a canonical leaf, not any bytes
        index, size, path = load_inclusion_proof(proof)
        if size != cp.size:
            raise ProofError(f"proof is for tree size {size}, the checkpoint is {cp.size}")
        ok = verify_inclusion(leaf_hash(data), index, size, path, cp.root)
        print(f"inclusion of {args.leaf} at leaf index {index}: {'VERIFIED' if ok else 'FAILED'}")
        return ok
    old = _checkpoint(args.old, args.key, args.origin)
    size1, size2, path = load_consistency_proof(proof)
    if (size1, size2) != (old.size, cp.size):
        raise ProofError(
            f"proof is for sizes {size1}->{size2}, the checkpoints are {old.size}->{cp.size}"
        )
    ok = verify_consistency(size1, size2, path, old.root, cp.root)
    print(f"consistency {size1} -> {size2}: {'VERIFIED' if ok else 'FAILED'}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ledger.integrity.verifier",
        description="Verify QP Ledger checkpoints and proofs from files (exit 0 = verified).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    leaf = sub.add_parser("leaf", help="decode a leaf file and print its hash")
    leaf.add_argument("leaf")
    for name, text in (
        ("checkpoint", "verify a checkpoint's signature"),
        ("inclusion", "verify an event's inclusion under a checkpoint"),
        ("consistency", "verify a checkpoint extends an older one"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--key", required=True, help="verifier key, or @FILE holding it")
        p.add_argument("--origin", help="expected log origin (default: the key's name)")
        p.add_argument("checkpoint", help="checkpoint file (the newer one, for consistency)")
        p.add_argument(
            "--witness-key",
            action="append",
            help="a trusted witness's key, or @FILE (repeatable): the checkpoint must be cosigned",
        )
        p.add_argument(
            "--require-cosignatures",
            type=int,
            metavar="N",
            help="how many of the --witness-key witnesses must have cosigned (default: all)",
        )
        if name == "inclusion":
            p.add_argument("--leaf", required=True, help="leaf bytes file")
        if name != "checkpoint":
            p.add_argument("--proof", required=True, help="proof JSON file")
        if name == "consistency":
            p.add_argument("--old", required=True, help="the older checkpoint file")
    args = parser.parse_args(argv)
    try:
        return 0 if _run(args) else 1
    # Every refusal of the input is a ValueError (ProofError, CheckpointError,
    # LeafFormatError, JSONDecodeError, a JSON integer too long to convert).
    except (ValueError, OSError) as e:
        print(f"NOT VERIFIED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
