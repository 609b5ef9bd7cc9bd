"""The witness as a state machine: whatever a log does, it never cosigns a fork (issue 11 item 2).

hypothesis drives a log that appends, rewrites an earlier leaf (a fork),
rolls back to a prefix, and replays old checkpoints, and submits signed
checkpoints with honest, wrong or garbage proofs to a witness that keeps its
state in a real file (a new ``Witness`` object each time, as separate runs
of ``qp-ledger witness cosign`` would). Checked after every step:

* the witness never cosigned two roots for one tree size;
* what it cosigned never goes backwards (sizes only grow), and its state
  file holds the last one;
* every pair it cosigned is consistent — the larger tree's first leaves hash
  to the smaller one's root (checked on the model's leaves, not with proofs);
* and it is not merely refusing everything: a checkpoint that extends the
  last cosigned one, with the honest proof, is always cosigned.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger.integrity.checkpoint import Signer, sign_checkpoint
from ledger.integrity.cosignature import Cosigner, verify_cosignatures
from ledger.integrity.witness import ConsistencyProof, Witness, WitnessRefused
from tests.merkle_reference import MemoryTree, mth

ORIGIN = "qp-ledger.test/witnessed"
LOG = Signer(ORIGIN, b"\x11" * 32)
WITNESS = Cosigner("auditor.example/w", b"\x22" * 32)
MAX_LEAVES = 40


class WitnessedLog(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="witness-"))
        self.state = self.directory / "witness.state"
        self.leaves: list[bytes] = []  # the log's current view
        self.counter = 0
        self.clock = 1_700_000_000
        self.views: list[list[bytes]] = []  # every view the log ever signed
        self.cosigned: list[tuple[int, bytes, list[bytes]]] = []  # (size, root, leaves)

    def teardown(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- what the log does -------------------------------------------------

    def _leaf(self) -> bytes:
        self.counter += 1
        return f"leaf {self.counter}".encode()

    @rule(count=st.integers(1, 6))
    def append(self, count: int) -> None:
        for _ in range(min(count, MAX_LEAVES - len(self.leaves))):
            self.leaves.append(self._leaf())

    @precondition(lambda self: self.leaves)
    @rule(data=st.data())
    def fork(self, data: st.DataObject) -> None:
        """Rewrite one earlier leaf: every root from there on changes."""
        index = data.draw(st.integers(0, len(self.leaves) - 1))
        self.leaves = [*self.leaves[:index], self._leaf(), *self.leaves[index + 1 :]]

    @precondition(lambda self: self.leaves)
    @rule(data=st.data())
    def roll_back(self, data: st.DataObject) -> None:
        """Cut the log back to a prefix of itself."""
        self.leaves = self.leaves[: data.draw(st.integers(0, len(self.leaves) - 1))]

    # -- what the witness is shown ----------------------------------------

    def _last(self) -> tuple[int, bytes, list[bytes]] | None:
        return self.cosigned[-1] if self.cosigned else None

    def _submit(self, leaves: list[bytes], proof_kind: str) -> str | None:
        tree = MemoryTree.from_data(leaves)
        size, root = tree.size, tree.root()
        self.views.append(list(leaves))
        note = sign_checkpoint(ORIGIN, size, root, LOG)
        last = self._last()
        old = 0 if last is None else last[0]
        proofs: list[ConsistencyProof] = []
        if old <= size:
            honest = ConsistencyProof(old, size, tree.consistency_proof(old, size))
            if proof_kind == "honest":
                proofs = [honest]
            elif proof_kind == "garbage":
                proofs = [ConsistencyProof(old, size, [bytes(32)] * len(honest.path))]
            elif proof_kind == "wrong-sizes" and old > 0:
                proofs = [ConsistencyProof(old - 1, size, tree.consistency_proof(old - 1, size))]
        self.clock += 1
        witness = Witness(WITNESS, self.state, clock=lambda: self.clock)
        extends = last is None or (size >= last[0] and mth(leaves[: last[0]]) == last[1])
        try:
            cosigned = witness.cosign(note, proofs, str(LOG.verifier))
        except WitnessRefused as e:
            assert e.reason in {"stale", "fork", "bad-proof", "wrong-proof"}, e
            if last is not None and size < last[0]:
                assert e.reason == "stale", e  # a rollback is named as one
            if last is not None and size == last[0]:
                assert e.reason == "fork", e  # same size, another root
            if proof_kind == "honest":
                assert not extends, f"refused an honest extension: {e}"
            return None
        assert extends, "cosigned a checkpoint that does not extend the last one"
        (cosignature,) = verify_cosignatures(cosigned, [WITNESS.key], 1, now=self.clock)
        assert cosignature.timestamp == self.clock
        self.cosigned.append((size, root, list(leaves)))
        return cosigned

    @rule(proof_kind=st.sampled_from(["honest", "honest", "garbage", "wrong-sizes", "none"]))
    def submit(self, proof_kind: str) -> None:
        self._submit(self.leaves, proof_kind)

    @precondition(lambda self: self.views)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """An old checkpoint again, with the honest proof of its own tree."""
        self._submit(data.draw(st.sampled_from(self.views)), "honest")

    # -- what must always hold ---------------------------------------------

    @invariant()
    def one_root_per_size(self) -> None:
        roots: dict[int, bytes] = {}
        for size, root, _ in self.cosigned:
            assert roots.setdefault(size, root) == root, f"two roots cosigned for size {size}"

    @invariant()
    def never_backwards(self) -> None:
        sizes = [size for size, _, _ in self.cosigned]
        assert sizes == sorted(sizes)
        last = self._last()
        seen = Witness(WITNESS, self.state).last_seen(ORIGIN)
        if last is None:
            assert seen is None
        else:
            assert seen is not None
            assert (seen.checkpoint.size, seen.checkpoint.root) == (last[0], last[1])

    @invariant()
    def all_consistent(self) -> None:
        for i, (size_a, root_a, _) in enumerate(self.cosigned):
            for size_b, _, leaves_b in self.cosigned[i + 1 :]:
                assert size_a <= size_b
                assert mth(leaves_b[:size_a]) == root_a


WitnessedLog.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_witness_never_cosigns_a_fork_nor_goes_backwards = WitnessedLog.TestCase
