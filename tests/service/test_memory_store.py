"""The in-memory store keeps the ledger's index as the SQL one does (ledger/adapters/port.py)."""

from __future__ import annotations

import pytest

from ledger.adapters.memory import MemoryLedgerRecorder
from ledger.adapters.port import LedgerStore
from ledger.domain.record import stream_id
from ledger.integrity.leaf import encode_leaf
from ledger.integrity.merkle import EMPTY_ROOT, leaf_hash, node_hash
from ledger.service.application import QPLedger

from .kit import SCHEME, START_US, Clock, flag, population


def test_memory_is_chosen_by_url_or_by_persistence_module() -> None:
    for app in (
        QPLedger("memory:"),
        QPLedger(env={"PERSISTENCE_MODULE": "ledger.adapters.memory:Factory"}),
    ):
        assert isinstance(app.recorder, MemoryLedgerRecorder)
        assert isinstance(app.log_store, LedgerStore)
        with pytest.raises(TypeError, match="needs the SQL store"):
            app.store  # noqa: B018 - read models, proofs and bundles need SQL
        app.close()


def test_a_recorder_without_the_index_is_refused() -> None:
    with pytest.raises(TypeError, match="without the ledger's index"):
        QPLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_the_index_answers_by_position_time_and_version(ledger: QPLedger, clock: Clock) -> None:
    store = ledger.log_store
    assert (store.head(), store.recorded_us(5), store.position_at(START_US)) == (0, None, 0)
    ledger.execute(population())  # positions 1, 2
    clock.now += 100
    ledger.execute(flag())  # position 3
    oid = str(stream_id("06F", SCHEME))
    assert store.head() == 3
    assert [store.recorded_us(p) for p in (1, 2, 3, 9)] == [
        START_US,
        START_US + 1,
        START_US + 100,
        START_US + 100,
    ]
    assert [store.position_at(t) for t in (START_US, START_US + 99, START_US + 100)] == [1, 2, 3]
    assert [store.stream_version_at(oid, p) for p in (0, 1, 3)] == [None, 1, 3]
    assert store.locate(oid, [1, 3, 7]) == {1: (1, START_US), 3: (3, START_US + 100)}
    assert store.originator_at(2) == oid and store.originator_at(4) is None


def test_the_merkle_head_is_the_hash_of_the_canonical_leaves(ledger: QPLedger) -> None:
    ledger.execute(population())
    stored = ledger.recorder.select_notifications(start=1, limit=10)
    store = ledger.log_store
    leaves = []
    previous = b""
    for n in stored:
        recorded = store.recorded_us(n.id)
        assert recorded is not None
        data = encode_leaf(
            n.id, n.originator_id, n.originator_version, n.topic, recorded, previous, n.state
        )
        previous = leaf_hash(data)
        leaves.append(previous)
    assert store.log_head_at(0) == (0, EMPTY_ROOT)
    assert store.log_head_at(1) == (1, leaves[0])
    assert store.log_head_at(2) == (2, node_hash(leaves[0], leaves[1]))
