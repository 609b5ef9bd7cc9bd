"""Reference Merkle trees for tests: every node in memory, and RFC 9162's MTH written out.

The product never holds a whole tree (it stores complete subtrees as they
appear, ledger/integrity/merkle.py), so these live here: the tests check the
stored-node proofs against a tree built the simplest way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ledger.integrity.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    CompactRange,
    NodeID,
    TreeSizeError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
)


class MemoryTree:
    """Every complete node kept in memory: a reference ``NodeSource``."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = []
        self._edge = CompactRange()
        for leaf in leaf_hashes:
            self.append(leaf)

    @classmethod
    def from_data(cls, leaves: Iterable[bytes]) -> MemoryTree:
        return cls(leaf_hash(d) for d in leaves)

    @property
    def size(self) -> int:
        return self._edge.size

    def append(self, leaf: bytes) -> None:
        for node, value in self._edge.append(leaf):
            if node.level == len(self.levels):
                self.levels.append([])
            self.levels[node.level].append(value)

    def get_nodes(self, ids: Sequence[NodeID]) -> Mapping[NodeID, bytes]:
        found = {}
        for node in ids:
            if node.level < len(self.levels) and node.index < len(self.levels[node.level]):
                found[node] = self.levels[node.level][node.index]
        return found

    def root(self, size: int | None = None) -> bytes:
        return root_hash(self.size if size is None else self._within(size), self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self.size if size is None else self._within(size), self)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        return consistency_proof(size1, self.size if size2 is None else self._within(size2), self)

    def _within(self, size: int) -> int:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise TreeSizeError(f"tree size must be an integer in [0, 2^64), not {size!r}")
        if size > self.size:
            raise TreeSizeError(f"tree size {size} is beyond the {self.size} leaves held")
        return size


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) straight from RFC 9162 §2.1.1 over leaf *data* (O(n) memory)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))
