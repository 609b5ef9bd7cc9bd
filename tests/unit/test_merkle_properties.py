"""Property tests for the Merkle log: proofs verify, and any change makes them fail.

Generated proofs are compared with a direct transcription of RFC 9162's
recursive definitions (MTH, PATH, PROOF/SUBPROOF), so the planner's O(log n)
node arithmetic is checked against the specification itself, not just
against the verifier written alongside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.integrity.leaf import LeafEvent, LeafFormatError, decode_leaf, encode_leaf
from ledger.integrity.merkle import (
    EMPTY_ROOT,
    CompactRange,
    NodeID,
    TreeSizeError,
    fold,
    leaf_hash,
    node_hash,
    range_nodes,
)
from ledger.integrity.verifier import (
    ProofError,
    consistency_path_length,
    inclusion_path_length,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from tests.merkle_reference import MemoryTree, mth

# -- RFC 9162 §2.1, transcribed ------------------------------------------------


def _k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n


def rfc_mth(h: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes* (so trees can be built from hashes)."""
    if len(h) == 1:
        return h[0]
    k = _k(len(h))
    return node_hash(rfc_mth(h[:k]), rfc_mth(h[k:]))


def rfc_path(m: int, h: Sequence[bytes]) -> list[bytes]:
    n = len(h)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*rfc_path(m, h[:k]), rfc_mth(h[k:])]
    return [*rfc_path(m - k, h[k:]), rfc_mth(h[:k])]


def rfc_subproof(m: int, h: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(h)
    if m == n:
        return [] if b else [rfc_mth(h)]
    k = _k(n)
    if m <= k:
        return [*rfc_subproof(m, h[:k], b), rfc_mth(h[k:])]
    return [*rfc_subproof(m - k, h[k:], False), rfc_mth(h[:k])]


def rfc_proof(m: int, h: Sequence[bytes]) -> list[bytes]:
    return rfc_subproof(m, h, True)


# -- strategies ----------------------------------------------------------------

MAX_LEAVES = 70  # crosses 64, so trees have 7 levels and ragged right edges


@st.composite
def trees(draw: st.DrawFn, min_size: int = 1) -> tuple[list[bytes], MemoryTree]:
    size = draw(st.integers(min_size, MAX_LEAVES))
    salt = draw(st.binary(max_size=8))
    # Distinct leaves, as in the ledger (each leaf carries its position).
    data = [i.to_bytes(2, "big") + salt for i in range(size)]
    return data, MemoryTree.from_data(data)


def flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def is_size(value: Any) -> bool:
    """A tree size or index as the verifiers take it: an int, not a bool, in 0..2^64-1."""
    return type(value) is int and 0 <= value < 2**64


def is_hash(value: Any) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == 32


def outcome(check: Any, *args: Any) -> bool | str:
    """True/False from the verifier, or 'ProofError'; any other exception fails the test."""
    try:
        result = check(*args)
    except ProofError:
        return "ProofError"
    assert isinstance(result, bool)
    return result


# -- trees and proofs agree with the RFC ---------------------------------------


@given(trees(min_size=0))
def test_root_matches_rfc_definition_for_every_prefix(tree: tuple[list[bytes], MemoryTree]) -> None:
    data, t = tree
    for size in range(len(data) + 1):
        assert t.root(size) == mth(data[:size])


@given(trees(), st.data())
def test_inclusion_proofs_match_rfc_path_and_verify(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    hashes = [leaf_hash(d) for d in leaves[:size]]
    proof = t.inclusion_proof(index, size)
    assert proof == rfc_path(index, hashes)
    assert len(proof) == inclusion_path_length(index, size)
    assert verify_inclusion(hashes[index], index, size, proof, t.root(size)) is True


@given(trees(), st.data())
def test_consistency_proofs_match_rfc_proof_and_verify(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    size2 = data.draw(st.integers(1, len(leaves)))
    size1 = data.draw(st.integers(0, size2))
    proof = t.consistency_proof(size1, size2)
    if 0 < size1 < size2:
        assert proof == rfc_proof(size1, [leaf_hash(d) for d in leaves[:size2]])
        assert len(proof) == consistency_path_length(size1, size2)
    else:
        assert proof == []
    assert verify_consistency(size1, size2, proof, t.root(size1), t.root(size2)) is True


@settings(max_examples=30)
@given(trees(min_size=1))
def test_every_proof_in_a_tree_verifies(tree: tuple[list[bytes], MemoryTree]) -> None:
    leaves, t = tree
    n = len(leaves)
    roots = [t.root(s) for s in range(n + 1)]
    for index in range(n):
        proof = t.inclusion_proof(index)
        assert verify_inclusion(leaf_hash(leaves[index]), index, n, proof, roots[n])
    for size1 in range(n + 1):
        assert verify_consistency(size1, n, t.consistency_proof(size1), roots[size1], roots[n])


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=80))
def test_compact_range_tracks_the_root_and_reports_every_complete_node(
    leaves: list[bytes],
) -> None:
    edge = CompactRange()
    stored: dict[NodeID, bytes] = {}
    for i, h in enumerate(leaves):
        for node, value in edge.append(h):
            assert node not in stored and node.end == i + 1
            stored[node] = value
        assert edge.root() == rfc_mth(leaves[: i + 1])
        # Reload from the stored right edge, as the database does on each write.
        reloaded = CompactRange(i + 1, [stored[n] for n in range_nodes(0, i + 1)])
        assert reloaded.root() == edge.root()
    assert fold([stored[n] for n in range_nodes(0, len(leaves))]) == edge.root()


# -- tampering makes verification fail -------------------------------------------


@given(trees(min_size=2), st.data())
def test_flipping_any_bit_breaks_an_inclusion_proof(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    leaf, proof, root = leaf_hash(leaves[index]), t.inclusion_proof(index), t.root()
    bit = data.draw(st.integers(0, 255))
    assert verify_inclusion(flip(leaf, bit), index, n, proof, root) is False
    assert verify_inclusion(leaf, index, n, proof, flip(root, bit)) is False
    for i in range(len(proof)):
        forged = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
        assert verify_inclusion(leaf, index, n, forged, root) is False
    # The same leaf data claimed at another index does not verify either.
    other = data.draw(st.integers(0, n - 1))
    assume(other != index)
    assert outcome(verify_inclusion, leaf, other, n, proof, root) in (False, "ProofError")


@given(trees(min_size=2), st.data())
def test_flipping_any_bit_breaks_a_consistency_proof(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    size2 = len(leaves)
    size1 = data.draw(st.integers(1, size2 - 1))
    proof, root1, root2 = t.consistency_proof(size1), t.root(size1), t.root(size2)
    bit = data.draw(st.integers(0, 255))
    assert verify_consistency(size1, size2, proof, flip(root1, bit), root2) is False
    assert verify_consistency(size1, size2, proof, root1, flip(root2, bit)) is False
    for i in range(len(proof)):
        forged = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
        assert verify_consistency(size1, size2, forged, root1, root2) is False


@given(trees(min_size=2), st.data())
def test_a_proof_for_a_different_size_fails(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    n = len(leaves)
    size, other = data.draw(st.integers(1, n)), data.draw(st.integers(1, n))
    assume(size != other)
    index = data.draw(st.integers(0, min(size, other) - 1))
    proof = t.inclusion_proof(index, size)
    leaf = leaf_hash(leaves[index])
    assert outcome(verify_inclusion, leaf, index, other, proof, t.root(other)) in (
        False,
        "ProofError",
    )
    # A consistency proof for (size1, size) does not prove (size1, other).
    size1 = data.draw(st.integers(1, min(size, other)))
    assume(size1 != size and size1 != other)
    cproof = t.consistency_proof(size1, size)
    assert outcome(verify_consistency, size1, other, cproof, t.root(size1), t.root(other)) in (
        False,
        "ProofError",
    )


@given(trees(min_size=2), st.data())
def test_a_tampered_log_is_not_consistent_with_its_old_root(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    size1 = data.draw(st.integers(1, len(leaves) - 1))
    victim = data.draw(st.integers(0, size1 - 1))
    rewritten = MemoryTree.from_data([*leaves[:victim], b"edited", *leaves[victim + 1 :]])
    assert (
        verify_consistency(
            size1, len(leaves), rewritten.consistency_proof(size1), t.root(size1), rewritten.root()
        )
        is False
    )


# -- forged input is refused, never crashed on -------------------------------------

hashlike = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=40),
    st.none(),
    st.text(max_size=4),
    st.integers(),
    st.builds(bytearray, st.binary(min_size=32, max_size=32)),
)
sizes = st.one_of(
    st.integers(-3, 80),
    st.integers(2**64 - 3, 2**64 + 3),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
    st.text(max_size=3),
)
paths = st.one_of(
    st.lists(st.binary(min_size=32, max_size=32), max_size=130),
    st.lists(hashlike, max_size=10),
    st.tuples(hashlike, hashlike),
    st.none(),
    st.binary(max_size=64),
    st.text(max_size=5),
    st.integers(),
    st.dictionaries(st.text(max_size=2), hashlike, max_size=2),
)


@settings(max_examples=400)
@given(hashlike, sizes, sizes, paths, hashlike)
def test_forged_inclusion_input_gives_false_or_proof_error(
    leaf: Any, index: Any, size: Any, proof: Any, root: Any
) -> None:
    result = outcome(verify_inclusion, leaf, index, size, proof, root)
    # Random input proves nothing, except a one-leaf tree whose root is the leaf itself.
    trivially_true = (
        is_size(size) and size == 1 and is_size(index) and index == 0
        and is_hash(leaf) and is_hash(root) and bytes(leaf) == bytes(root)
        and isinstance(proof, list) and proof == []
    )  # fmt: skip
    assert result in ((True,) if trivially_true else (False, "ProofError")), result


@settings(max_examples=400)
@given(sizes, sizes, paths, hashlike, hashlike)
def test_forged_consistency_input_gives_false_or_proof_error(
    size1: Any, size2: Any, proof: Any, root1: Any, root2: Any
) -> None:
    result = outcome(verify_consistency, size1, size2, proof, root1, root2)
    # Random input proves nothing, except the two trivial cases the RFC allows:
    # equal sizes with equal roots, or an empty first tree, with an empty proof.
    trivially_true = (
        is_size(size1) and is_size(size2) and size1 <= size2
        and is_hash(root1) and is_hash(root2) and isinstance(proof, list) and proof == []
        and (
            (size1 == size2 and bytes(root1) == bytes(root2))
            or (size1 == 0 and bytes(root1) == EMPTY_ROOT)
        )
    )  # fmt: skip
    assert result in ((True,) if trivially_true else (False, "ProofError")), result


@given(trees(), st.data())
def test_random_proofs_of_the_right_shape_do_not_verify(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    length = inclusion_path_length(index, n)
    forged = data.draw(
        st.lists(st.binary(min_size=32, max_size=32), min_size=length, max_size=length)
    )
    assume(forged != t.inclusion_proof(index))
    assert verify_inclusion(leaf_hash(leaves[index]), index, n, forged, t.root()) is False


@given(trees(min_size=2), st.data())
def test_extra_missing_or_reordered_hashes_are_refused(
    tree: tuple[list[bytes], MemoryTree], data: st.DataObject
) -> None:
    leaves, t = tree
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof, leaf, root = t.inclusion_proof(index), leaf_hash(leaves[index]), t.root()
    extra = data.draw(st.binary(min_size=32, max_size=32))
    for forged in ([*proof, extra], [extra, *proof], proof[:-1], proof[1:], [*proof, *proof]):
        assert outcome(verify_inclusion, leaf, index, n, forged, root) == "ProofError"
    if len(proof) > 1 and proof[0] != proof[1]:
        swapped = [proof[1], proof[0], *proof[2:]]
        assert verify_inclusion(leaf, index, n, swapped, root) is False
    size1 = data.draw(st.integers(1, n - 1))
    cproof = t.consistency_proof(size1)
    for forged in ([*cproof, extra], cproof[:-1], []):
        assert outcome(verify_consistency, size1, n, forged, t.root(size1), root) == "ProofError"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((b"\0" * 32, 5, 5, [], b"\0" * 32), "leaf index 5 is not in a tree of size 5"),
        ((b"\0" * 32, 0, 0, [], b"\0" * 32), "leaf index 0 is not in a tree of size 0"),
        ((b"\0" * 31, 0, 1, [], b"\0" * 32), "leaf hash must be 32 bytes, not 31 bytes"),
        ((b"\0" * 32, -1, 1, [], b"\0" * 32), "leaf index must be an integer in [0, 2^64)"),
        ((b"\0" * 32, 0, 2**64, [], b"\0" * 32), "tree size must be an integer in [0, 2^64)"),
        (
            (b"\0" * 32, 0, 8, [b"\0" * 32] * 1000, b"\0" * 32),
            "inclusion path has 1000 hashes; these sizes need 3",
        ),
        ((b"\0" * 32, 0, 8, None, b"\0" * 32), "inclusion path must be a list of hashes"),
    ],
)
def test_proof_errors_say_what_is_wrong(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ProofError) as e:
        verify_inclusion(*args)
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("size1", "size2", "proof", "message"),
    [
        (5, 4, [], "first tree size 5 is larger than the second, 4"),
        (3, 3, [b"\0" * 32], "consistency path has 1 hashes; these sizes need 0"),
        (0, 3, [b"\0" * 32], "consistency path has 1 hashes; these sizes need 0"),
        (3, 8, [], "consistency path has 0 hashes; these sizes need 4"),
    ],
)
def test_consistency_errors_say_what_is_wrong(
    size1: int, size2: int, proof: list[bytes], message: str
) -> None:
    with pytest.raises(ProofError) as e:
        verify_consistency(size1, size2, proof, b"\0" * 32, b"\1" * 32)
    assert message in str(e.value)


def test_trivial_consistency_cases() -> None:
    t = MemoryTree.from_data([b"a", b"b", b"c"])
    assert verify_consistency(3, 3, [], t.root(), t.root()) is True
    assert verify_consistency(3, 3, [], t.root(2), t.root()) is False
    assert verify_consistency(0, 3, [], t.root(0), t.root()) is True
    assert verify_consistency(0, 3, [], t.root(1), t.root()) is False
    assert verify_consistency(0, 0, [], t.root(0), t.root(0)) is True


def test_root_from_inclusion_proof_is_the_tree_root() -> None:
    t = MemoryTree.from_data([bytes([i]) for i in range(11)])
    for i in range(11):
        assert root_from_inclusion_proof(leaf_hash(bytes([i])), i, 11, t.inclusion_proof(i)) == (
            t.root()
        )


def test_generation_refuses_sizes_the_tree_cannot_answer() -> None:
    t = MemoryTree.from_data([b"a", b"b"])
    with pytest.raises(TreeSizeError):
        t.inclusion_proof(2, 2)
    with pytest.raises(TreeSizeError):
        t.consistency_proof(2, 1)
    with pytest.raises(TreeSizeError):
        t.root(3)
    with pytest.raises(ValueError):
        CompactRange(3, [b"\0" * 32])


# -- the leaf encoding is unambiguous ---------------------------------------------

leaf_events = st.builds(
    LeafEvent,
    position=st.integers(0, 2**64 - 1),
    stream_id=st.text(),
    version=st.integers(0, 2**64 - 1),
    topic=st.text(),
    recorded_us=st.integers(0, 2**64 - 1),
    previous_hash=st.sampled_from([b"", b"\x01" * 32]) | st.binary(min_size=32, max_size=32),
    payload=st.binary(max_size=200),
)


def _encodable(event: LeafEvent) -> bool:
    try:
        event.encode()
    except UnicodeEncodeError:  # lone surrogates are not text a stream id can hold
        return False
    return True


@given(leaf_events)
def test_leaf_encoding_round_trips(event: LeafEvent) -> None:
    assume(_encodable(event))
    assert decode_leaf(event.encode()) == event


@given(leaf_events, leaf_events)
def test_different_events_have_different_leaves(a: LeafEvent, b: LeafEvent) -> None:
    assume(a != b and _encodable(a) and _encodable(b))
    assert a.encode() != b.encode()


@given(leaf_events, st.data())
def test_altered_leaf_bytes_are_refused_or_decode_differently(
    event: LeafEvent, data: st.DataObject
) -> None:
    assume(_encodable(event))
    raw = event.encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    for forged in (
        raw[:cut],
        raw + data.draw(st.binary(min_size=1, max_size=9)),
        flip(raw, data.draw(st.integers(0, len(raw) * 8 - 1))),
    ):
        with contextlib.suppress(LeafFormatError):
            assert decode_leaf(forged) != event


def test_leaf_fields_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_leaf(-1, "s", 1, "t", 0, b"", b"")
    with pytest.raises(ValueError):
        encode_leaf(1, "s", 2**64, "t", 0, b"", b"")
    with pytest.raises(ValueError):
        encode_leaf(1, "s", 1, "t", 0, b"\0" * 31, b"")
