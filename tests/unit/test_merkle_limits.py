"""The Merkle code at its limits: 2^64 - 1 leaves, the node plans, missing nodes.

RFC 9162 indexes trees by uint64, so 2^64 - 1 is a size the ledger must
answer for and 2^64 one it must refuse; a bool or a float is not a size even
where Python would compare it equal to one. A proof is planned as complete
subtrees fetched in one batch: these tests pin which nodes, and what
happens when the store lacks one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ledger.integrity.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    CompactRange,
    MissingNodeError,
    NodeID,
    ProofPlan,
    TreeSizeError,
    consistency_plan,
    consistency_proof,
    fold,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_hash,
    root_plan,
)

H = [leaf_hash(bytes([n])) for n in range(8)]


class Nodes(dict[NodeID, bytes]):
    """A node store that records what it was asked for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: list[list[NodeID]] = []

    def get_nodes(self, ids: Sequence[NodeID]) -> Mapping[NodeID, bytes]:
        self.asked.append(list(ids))
        return {node: self[node] for node in ids if node in self}


def stored(leaves: Sequence[bytes]) -> Nodes:
    nodes, edge = Nodes(), CompactRange()
    for leaf in leaves:
        nodes.update(edge.append(leaf))
    return nodes


def test_the_largest_tree_is_planned_and_one_more_leaf_is_refused() -> None:
    assert MAX_TREE_SIZE == 2**64 - 1
    (groups,) = root_plan(MAX_TREE_SIZE).groups
    assert groups == tuple(NodeID(level, (2**64 - 2**(level + 1)) >> level)
                           for level in range(63, -1, -1))  # fmt: skip
    assert [n.end - n.begin for n in groups] == [2**level for level in range(63, -1, -1)]
    assert groups[-1].end == MAX_TREE_SIZE
    # The last leaf's path: the 63 complete subtrees to its left, smallest first.
    path = inclusion_plan(MAX_TREE_SIZE - 1, MAX_TREE_SIZE).groups
    assert path == tuple((node,) for node in reversed(groups[:-1]))
    # From the left half to the whole tree: the right half, itself 63 complete subtrees.
    (right,) = consistency_plan(2**63, MAX_TREE_SIZE).groups
    assert right == groups[1:]
    with pytest.raises(TreeSizeError, match=r"^tree size must be an integer in \[0, 2\^64\)"):
        root_plan(2**64)
    with pytest.raises(TreeSizeError, match=r"^leaf index 18446744073709551615 is not in a tree"):
        inclusion_plan(MAX_TREE_SIZE, MAX_TREE_SIZE)


def test_a_compact_range_fills_to_the_largest_tree_and_no_further() -> None:
    almost = CompactRange(MAX_TREE_SIZE - 1, [H[0]] * 63)
    completed = almost.append(H[1])
    assert completed == [(NodeID(0, MAX_TREE_SIZE - 1), H[1])]  # an even index completes nothing
    assert almost.size == MAX_TREE_SIZE and len(almost.hashes) == 64
    with pytest.raises(TreeSizeError, match=r"^the tree is full$"):
        almost.append(H[2])
    assert almost.size == MAX_TREE_SIZE


@pytest.mark.parametrize("size", [True, False, 1.0, 0.0, -1, 2**64, "1", None])
def test_a_size_that_is_not_a_uint64_integer_is_refused_everywhere(size: Any) -> None:
    message = r"must be an integer in \[0, 2\^64\), not "
    with pytest.raises(TreeSizeError, match=f"^tree size {message}"):
        root_plan(size)
    with pytest.raises(TreeSizeError, match=f"^tree size {message}"):
        inclusion_plan(0, size)
    with pytest.raises(TreeSizeError, match=f"^leaf index {message}"):
        inclusion_plan(size, 5)
    with pytest.raises(TreeSizeError, match=f"^tree size {message}"):
        consistency_plan(size, 5)
    with pytest.raises(TreeSizeError, match=f"^tree size {message}"):
        consistency_plan(0, size)
    with pytest.raises(TreeSizeError, match=f"^tree size {message}"):
        CompactRange(size)


def test_a_compact_range_must_hold_one_hash_per_set_bit_of_its_size() -> None:
    with pytest.raises(ValueError, match=r"^a compact range of size 3 has 2 hashes, not 1$"):
        CompactRange(3, [H[0]])
    edge = CompactRange(3, [H[0], H[1]])
    assert edge.hashes == (H[0], H[1])
    assert edge.root() == node_hash(H[0], H[1])
    assert CompactRange().root() == EMPTY_ROOT == fold([])


def test_appending_reports_each_node_it_completes_bottom_up() -> None:
    edge = CompactRange()
    reports = [edge.append(h) for h in H]
    assert reports[6] == [(NodeID(0, 6), H[6])]
    n01, n23, n45, n67 = (node_hash(H[i], H[i + 1]) for i in (0, 2, 4, 6))
    n03, n47 = node_hash(n01, n23), node_hash(n45, n67)
    assert reports[7] == [
        (NodeID(0, 7), H[7]),
        (NodeID(1, 3), n67),
        (NodeID(2, 1), n47),
        (NodeID(3, 0), node_hash(n03, n47)),
    ]
    assert edge.hashes == (node_hash(n03, n47),)


def test_node_ids_cover_their_leaves() -> None:
    node = NodeID(3, 5)
    assert (node.begin, node.end) == (40, 48)
    assert range_nodes(0, 0) == []
    assert range_nodes(0, 6) == [NodeID(2, 0), NodeID(1, 2)]
    assert range_nodes(4, 7) == [NodeID(1, 2), NodeID(0, 6)]


def _greedy_blocks(begin: int, end: int) -> list[NodeID]:
    """From the left, the largest block aligned at the current leaf that ends by ``end``."""
    blocks = []
    while begin < end:
        level = 0
        while begin % (2 << level) == 0 and begin + (2 << level) <= end:
            level += 1
        blocks.append(NodeID(level, begin >> level))
        begin += 1 << level
    return blocks


def test_an_unaligned_range_is_cut_at_its_alignment_not_at_its_length() -> None:
    """range_nodes is public, and its promise is any ``[begin, end)``.

    The planner only asks for ranges that start on a boundary at least as large
    as the range, where the length alone decides each block; from a ``begin``
    like 6 the first block must stop at 8 (a block of 4 from 6 is no node).
    """
    assert range_nodes(6, 16) == [NodeID(1, 3), NodeID(3, 1)]
    assert range_nodes(2, 16) == [NodeID(1, 1), NodeID(2, 1), NodeID(3, 1)]
    assert range_nodes(5, 6) == [NodeID(0, 5)]
    for begin in range(70):
        for end in range(begin, 70):
            nodes = range_nodes(begin, end)
            assert nodes == _greedy_blocks(begin, end), (begin, end)
            assert [n.begin for n in nodes[1:]] == [n.end for n in nodes[:-1]]


def test_each_node_is_fetched_once_in_one_batch() -> None:
    nodes = stored(H[:7])
    plan = inclusion_plan(6, 7)
    assert plan.groups == ((NodeID(1, 2),), (NodeID(2, 0),))
    assert plan.node_ids == [NodeID(1, 2), NodeID(2, 0)]
    assert inclusion_proof(6, 7, nodes) == [node_hash(H[4], H[5]), nodes[NodeID(2, 0)]]
    assert nodes.asked == [[NodeID(1, 2), NodeID(2, 0)]]
    shared = ProofPlan(((NodeID(0, 1), NodeID(0, 0)), (NodeID(0, 0),)))
    assert shared.node_ids == [NodeID(0, 0), NodeID(0, 1)]


def test_an_ephemeral_node_is_folded_from_the_right_edge() -> None:
    nodes = stored(H[:7])
    # Leaf 1 in a tree of 7: its uncle on the right is [4, 7), which is not complete.
    assert inclusion_plan(1, 7).groups == (
        (NodeID(0, 0),),
        (NodeID(1, 1),),
        (NodeID(1, 2), NodeID(0, 6)),
    )
    assert inclusion_proof(1, 7, nodes)[2] == node_hash(node_hash(H[4], H[5]), H[6])
    assert consistency_plan(3, 7).groups == (
        (NodeID(0, 2),),
        (NodeID(0, 3),),
        (NodeID(1, 0),),
        (NodeID(1, 2), NodeID(0, 6)),
    )
    assert consistency_proof(3, 7, nodes)[3] == node_hash(node_hash(H[4], H[5]), H[6])


def test_trivial_plans_are_empty() -> None:
    assert consistency_plan(0, 5).groups == ()
    assert consistency_plan(5, 5).groups == ()
    assert consistency_plan(4, 8).groups == ((NodeID(2, 1),),)  # a power of two is its own seed
    assert inclusion_plan(0, 1).groups == ()
    with pytest.raises(TreeSizeError, match=r"^tree size 6 is larger than 5$"):
        consistency_plan(6, 5)


def test_a_node_the_store_lacks_is_a_missing_node_error() -> None:
    nodes = stored(H[:7])
    del nodes[NodeID(1, 0)]
    with pytest.raises(MissingNodeError, match=r"^node NodeID\(level=1, index=0\) is not stored$"):
        root_hash(3, nodes)
    with pytest.raises(MissingNodeError) as caught:
        inclusion_proof(2, 3, nodes)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert root_hash(0, nodes) == EMPTY_ROOT
    assert root_hash(1, nodes) == H[0]
    assert root_hash(4, nodes) == nodes[NodeID(2, 0)]
