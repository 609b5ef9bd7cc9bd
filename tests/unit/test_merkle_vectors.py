"""Known-answer tests: RFC 6962 / RFC 9162 Merkle tree vectors.

Source of the vectors (the ones every CT implementation is tested against):

* leaves, node hashes of every complete subtree, and roots for sizes 0..8 —
  transparency-dev/merkle, ``testonly/constants.go`` (``LeafInputs``,
  ``NodeHashes``, ``RootHashes``); the same values appear in
  google/certificate-transparency's ``cpp/merkletree/merkle_tree_test.cc``
  and ``python/ct/crypto/merkle_test.py``;
* inclusion and consistency proofs — transparency-dev/merkle,
  ``proof/verify_test.go`` (``inclusionProofs``, ``consistencyProofs``;
  formerly google/certificate-transparency-go ``merkle/log_verifier_test.go``).
  Leaf numbers there are 1-based; here they are 0-based indices.

Checked value by value against transparency-dev/merkle ``testonly/constants.go``
(commit 582a6ad) and ``proof/verify_test.go`` (commit 02194e9); every value is
also reproduced by the RFC's recursive definitions transcribed in
:mod:`tests.unit.test_merkle_properties`.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from ledger.integrity.leaf import LeafEvent, decode_leaf, encode_leaf
from ledger.integrity.merkle import (
    EMPTY_ROOT,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    node_hash,
)
from ledger.integrity.verifier import verify_consistency, verify_inclusion
from tests.merkle_reference import MemoryTree, mth

LEAVES = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]

#: NodeHashes(): level -> hashes of the complete subtrees at that level.
NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

#: RootHashes(): the root of the tree of the first n leaves, n = 0..8.
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

#: inclusionProofs: (0-based leaf index, tree size, audit path).
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        [
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        ],
    ),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

#: consistencyProofs: (size1, size2, consistency path).
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

TREE = MemoryTree.from_data(LEAVES)


def hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert mth([]) == EMPTY_ROOT
    assert MemoryTree().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_have_the_rfc_prefixes() -> None:
    # MTH({d}) = SHA-256(0x00 || d); interior nodes SHA-256(0x01 || l || r).
    assert leaf_hash(b"").hex() == NODE_HASHES[0][0]
    left, right = (bytes.fromhex(h) for h in NODE_HASHES[0][:2])
    assert node_hash(left, right).hex() == NODE_HASHES[1][0]


def test_every_complete_subtree_hash() -> None:
    assert [hexes(level) for level in TREE.levels] == NODE_HASHES


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_root_for_every_size(size: int) -> None:
    assert TREE.root(size).hex() == ROOTS[size]
    assert mth(LEAVES[:size]).hex() == ROOTS[size]
    assert MemoryTree.from_data(LEAVES[:size]).root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proof_vectors(index: int, size: int, path: list[str]) -> None:
    assert hexes(TREE.inclusion_proof(index, size)) == path
    proof = [bytes.fromhex(h) for h in path]
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, root) is True


@pytest.mark.parametrize(("size1", "size2", "path"), CONSISTENCY)
def test_consistency_proof_vectors(size1: int, size2: int, path: list[str]) -> None:
    assert hexes(TREE.consistency_proof(size1, size2)) == path
    proof = [bytes.fromhex(h) for h in path]
    root1, root2 = bytes.fromhex(ROOTS[size1]), bytes.fromhex(ROOTS[size2])
    assert verify_consistency(size1, size2, proof, root1, root2) is True


def test_proofs_need_only_a_logarithmic_number_of_stored_nodes() -> None:
    # The planner asks for complete subtrees only: at most ~2 log2(n) of them,
    # whatever the size, which is what makes persisted proofs O(log n) reads.
    size = 2**40 + 2**20 + 12345
    for plan in (
        inclusion_plan(size // 3, size),
        inclusion_plan(size - 1, size),
        consistency_plan(size // 2 + 7, size),
        consistency_plan(2**40 - 1, size),
    ):
        assert 0 < len(plan.node_ids) <= 2 * size.bit_length()
        assert all(node.end <= size for node in plan.node_ids)


# -- the canonical leaf encoding (docs/integrity.md, ledger/integrity/leaf.py) ----------


def test_leaf_bytes_follow_the_documented_layout() -> None:
    """Spelled out field by field, as an auditor re-implementing it would."""
    stream = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    topic = "ledger.domain:CCGPremiumRecord.PopulationRecorded"
    payload = b'{"population":449953}'
    previous = bytes(range(32))
    expected = (
        b"\x00\x00\x00\x11"
        + b"qp-ledger/leaf/v1"
        + b"\x00\x00\x00\x08"
        + (7).to_bytes(8, "big")  # position
        + b"\x00\x00\x00\x24"
        + stream.encode()  # 36 bytes
        + b"\x00\x00\x00\x08"
        + (2).to_bytes(8, "big")  # version
        + b"\x00\x00\x00\x31"
        + topic.encode()  # 49 bytes
        + b"\x00\x00\x00\x08"
        + (1711929600000000).to_bytes(8, "big")  # 2024-04-01T00:00Z
        + b"\x00\x00\x00\x20"
        + previous
        + b"\x00\x00\x00\x15"
        + payload
    )
    leaf = encode_leaf(7, UUID(stream), 2, topic, 1711929600000000, previous, payload)
    assert leaf == expected
    assert len(leaf) == 211
    assert leaf_hash(leaf).hex() == (
        "c1c7c718df15b3fe44a71557eeed3ce0659187df7434858b0ac60137e381c9e2"
    )
    assert decode_leaf(leaf) == LeafEvent(7, stream, 2, topic, 1711929600000000, previous, payload)


def test_a_streams_first_event_has_an_empty_previous_hash() -> None:
    leaf = encode_leaf(1, "s", 1, "t", 0, b"", b"")
    assert leaf.endswith(b"\x00\x00\x00\x00" * 2)
    assert decode_leaf(leaf).previous_hash == b""
