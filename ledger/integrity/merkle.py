"""Merkle tree hashing and proof generation, RFC 9162 §2.1 (the same hashing as RFC 6962).

The tree over the event log is never rebuilt. Every *complete* subtree of the
tree — a node ``(level, index)`` covering leaves ``[index·2^level,
(index+1)·2^level)`` once all of them exist — has a hash that never changes,
so it can be stored once, when its last leaf is appended. Everything else
follows from those stored hashes:

* the root of any tree size is the fold of at most 64 complete subtrees
  (the binary decomposition of the size, :func:`range_nodes`);
* an inclusion or consistency proof is a list of complete subtree hashes,
  except for at most one *ephemeral* node on the right edge, which is itself
  a fold of complete subtrees.

So the functions here first *plan* which complete nodes a root or proof needs
(:class:`ProofPlan`, at most ~2·64 ids), ask a :class:`NodeSource` for them in
one batch, then assemble the answer: O(log n) reads for any size. Appending is
:class:`CompactRange` — the hashes of the right edge only — which reports each
node the moment it becomes complete so that the caller can persist it.

Node ids follow transparency-dev/merkle's ``compact.NodeID``; the proofs are
exactly RFC 9162's PATH and PROOF (tests compare them with a transcription of
the RFC's recursive definitions and with published vectors).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
#: RFC 9162 trees are indexed by uint64: sizes and indices must fit.
MAX_TREE_SIZE = 2**64 - 1
#: MTH({}) = SHA-256() — the root of the empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 ‖ d): the 0x00 prefix keeps leaves and nodes apart."""
    h = hashlib.sha256(b"\x00")
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class TreeSizeError(ValueError):
    """A size or index that the tree cannot answer for (e.g. index >= size)."""


class MissingNodeError(LookupError):
    """The node source does not hold a complete subtree a proof needs."""


@dataclass(frozen=True, order=True, slots=True)
class NodeID:
    """A perfect subtree: ``level`` 0 is a leaf; it covers ``[begin, end)``."""

    level: int
    index: int

    @property
    def begin(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


class NodeSource(Protocol):
    """Where complete subtree hashes live (memory, database rows, tiles)."""

    def get_nodes(self, ids: Sequence[NodeID]) -> Mapping[NodeID, bytes]:
        """Return the hash of each requested complete node (missing ones may be absent)."""
        ...


def _check_size(size: int, what: str = "tree size") -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise TreeSizeError(f"{what} must be an integer in [0, 2^64), not {size!r}")


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """The maximal complete subtrees covering ``[begin, end)``, left to right.

    Used for ``begin = 0`` (a tree's root is their right-to-left fold) and for
    the right-edge remainder of an ephemeral node, where ``begin`` is aligned
    to a power of two at least as large as the range, so the decomposition is
    simply the binary digits of ``end - begin``, largest first.
    """
    nodes: list[NodeID] = []
    while begin < end:
        # Largest aligned block starting at begin that still fits in the range.
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append(NodeID(level, begin >> level))
        begin += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of the subtree made of adjacent complete subtrees (right to left, RFC shape)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


@dataclass(frozen=True)
class ProofPlan:
    """Which complete nodes an answer needs; each group folds into one output hash."""

    groups: tuple[tuple[NodeID, ...], ...]

    @property
    def node_ids(self) -> list[NodeID]:
        """Every node to fetch, each once, in a stable order."""
        return sorted({node for group in self.groups for node in group})

    def assemble(self, found: Mapping[NodeID, bytes]) -> list[bytes]:
        out = []
        for group in self.groups:
            try:
                out.append(fold([found[node] for node in group]))
            except KeyError as e:
                raise MissingNodeError(f"node {e.args[0]} is not stored") from None
        return out

    def fetch(self, source: NodeSource) -> list[bytes]:
        return self.assemble(source.get_nodes(self.node_ids))


def _path_up(level: int, index: int, size: int) -> list[tuple[NodeID, ...]]:
    """Siblings on the way from node ``(level, index)`` to the root of a tree of ``size``.

    A sibling that lies wholly beyond the tree does not exist (RFC 9162 lifts
    the node instead); one that straddles the end is the ephemeral node,
    folded from the complete subtrees of its part of ``[0, size)``.
    """
    groups: list[tuple[NodeID, ...]] = []
    while not (index == 0 and (1 << level) >= size):
        sibling = index ^ 1
        begin = sibling << level
        if begin < size:
            groups.append(tuple(range_nodes(begin, min(begin + (1 << level), size))))
        index >>= 1
        level += 1
    return groups


def root_plan(size: int) -> ProofPlan:
    _check_size(size)
    return ProofPlan((tuple(range_nodes(0, size)),))


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]), bottom-up."""
    _check_size(size)
    _check_size(index, "leaf index")
    if index >= size:
        raise TreeSizeError(f"leaf index {index} is not in a tree of size {size}")
    return ProofPlan(tuple(_path_up(0, index, size)))


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """RFC 9162 §2.1.4.1 PROOF(size1, D[size2]); empty when size1 is 0 or equals size2."""
    _check_size(size1)
    _check_size(size2)
    if size1 > size2:
        raise TreeSizeError(f"tree size {size1} is larger than {size2}")
    if size1 == 0 or size1 == size2:
        return ProofPlan(())
    # The largest complete subtree ending at size1: the verifier rebuilds both
    # roots from it, so the proof starts with it (unless it *is* the old root).
    level = (size1 & -size1).bit_length() - 1
    index = (size1 >> level) - 1
    seed: list[tuple[NodeID, ...]] = [] if index == 0 else [(NodeID(level, index),)]
    return ProofPlan(tuple(seed + _path_up(level, index, size2)))


def root_hash(size: int, source: NodeSource) -> bytes:
    return root_plan(size).fetch(source)[0]


def inclusion_proof(index: int, size: int, source: NodeSource) -> list[bytes]:
    return inclusion_plan(index, size).fetch(source)


def consistency_proof(size1: int, size2: int, source: NodeSource) -> list[bytes]:
    return consistency_plan(size1, size2).fetch(source)


class CompactRange:
    """The right edge of a tree: O(log n) state, O(1) amortised hashing per append.

    ``hashes`` are the roots of :func:`range_nodes(0, size)`, left to right —
    exactly the nodes a persisted tree already stores, so the range can be
    reloaded with one read of at most 64 rows.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        _check_size(size)
        self.size = size
        self._hashes = list(hashes)
        if len(self._hashes) != size.bit_count():
            raise ValueError(
                f"a compact range of size {size} has {size.bit_count()} hashes, "
                f"not {len(self._hashes)}"
            )

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeID, bytes]]:
        """Add one leaf hash; return every node it completes, the leaf itself first."""
        index = self.size
        if index >= MAX_TREE_SIZE:
            raise TreeSizeError("the tree is full")
        completed = [(NodeID(0, index), leaf)]
        level, current = 0, leaf
        while index & 1:
            current = node_hash(self._hashes.pop(), current)
            index >>= 1
            level += 1
            completed.append((NodeID(level, index), current))
        self._hashes.append(current)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return fold(self._hashes)
