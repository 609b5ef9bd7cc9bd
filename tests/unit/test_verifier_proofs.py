"""The verifier's refusals name the kind of thing it was handed.

Whoever calls the verifier from their own tooling gets a ProofError, not a
traceback, and its message is all they have to find their mistake: a hex
string where the 32 raw bytes were meant, one hash where a list of them
was. So the message says what arrived, not only what was expected.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.integrity.merkle import leaf_hash
from ledger.integrity.verifier import ProofError, verify_consistency, verify_inclusion

GOOD = leaf_hash(b"x")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (GOOD.hex(), "<class 'str'>"),
        (list(GOOD), "<class 'list'>"),
        (GOOD[:31], "31 bytes"),
    ],
)
def test_a_hash_that_is_not_32_bytes_says_what_it_is(value: Any, shown: str) -> None:
    with pytest.raises(ProofError) as caught:
        verify_inclusion(value, 0, 1, [], GOOD)
    assert str(caught.value) == f"leaf hash must be 32 bytes, not {shown}"
    with pytest.raises(ProofError) as caught:
        verify_consistency(1, 2, [value], GOOD, GOOD)
    assert str(caught.value) == f"consistency path[0] must be 32 bytes, not {shown}"


@pytest.mark.parametrize(
    ("path", "shown"),
    [(GOOD, "bytes"), (GOOD.hex(), "str"), ({0: GOOD}, "dict"), (None, "NoneType")],
)
def test_a_path_that_is_not_a_list_says_what_it_is(path: Any, shown: str) -> None:
    with pytest.raises(ProofError) as caught:
        verify_inclusion(GOOD, 0, 2, path, GOOD)
    assert str(caught.value) == f"inclusion path must be a list of hashes, not {shown}"
    with pytest.raises(ProofError) as caught:
        verify_consistency(1, 2, path, GOOD, GOOD)
    assert str(caught.value) == f"consistency path must be a list of hashes, not {shown}"
