"""The persisted Merkle log, on SQLite and PostgreSQL, wired into the real ledger.

Until ledger/adapters/recorder.py has the two-line change (docs/integrity.md),
``WiredRecorder`` is ``LedgerRecorder`` plus :class:`IntegrityRecorderMixin`,
calling ``_record_integrity`` right after the recorded-time index is written.
(It reads the recorded times back from the index rows, because a subclass
cannot reach the local ``rows``; the wired code passes them directly.) Once
``LedgerRecorder`` has the mixin, these tests run against it unchanged.

Tamper tests edit the database directly — a payload, a deletion, an
insertion, a swap — and check the audit names the position; an untouched
database passes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import Engine, Table, event, select
from sqlalchemy.orm import Session

from ledger.adapters.recorder import Factory, LedgerRecorder
from ledger.integrity.audit import AuditReport
from ledger.integrity.audit import audit as audit_log
from ledger.integrity.checkpoint import Signer, sign_checkpoint, verify_checkpoint
from ledger.integrity.leaf import decode_leaf
from ledger.integrity.log import IntegrityLogBehind
from ledger.integrity.merkle import TreeSizeError, leaf_hash
from ledger.integrity.store_integration import IntegrityRecorderMixin
from ledger.integrity.verifier import verify_consistency, verify_inclusion
from ledger.service.application import QPLedger
from tests.integrity_attack import rebuild_log
from tests.ledgerkit import population
from tests.merkle_reference import MemoryTree

CCGS = ["00C", "00D", "00F", "00G", "06F"]
ORIGIN = "qp-ledger.test/log"


if issubclass(LedgerRecorder, IntegrityRecorderMixin):
    # ledger/adapters/recorder.py has the two-line change: test the real recorder as it is.
    WiredFactory: type[Factory] = Factory
else:

    class WiredRecorder(IntegrityRecorderMixin, LedgerRecorder):
        def _insert_stored_events(
            self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any
        ) -> Sequence[int]:
            positions = super()._insert_stored_events(session, stored_events, **kwargs)
            if stored_events:
                idx = self.index.c
                query = select(idx.position, idx.recorded_us).where(idx.position.in_(positions))
                times = dict(session.execute(query).all())
                rows = [{"position": p, "recorded_us": times[p]} for p in positions]
                self._record_integrity(session, stored_events, rows)
            return positions

    class _WiredFactory(Factory):
        application_recorder_class = WiredRecorder

    WiredFactory = _WiredFactory


def open_ledger(url: str) -> QPLedger:
    return QPLedger(url, env={"PERSISTENCE_MODULE": get_topic(WiredFactory)})


@pytest.fixture
def ledger(database_url: str) -> Iterator[QPLedger]:
    app = open_ledger(database_url)
    yield app
    app.close()


def recorder(app: QPLedger) -> Any:
    store = app.store
    assert isinstance(store, IntegrityRecorderMixin)
    return store


def populate(app: QPLedger, rounds: int = 3) -> None:
    """A few streams, written one by one and in a multi-stream import batch."""
    for n in range(rounds):
        for ccg in CCGS[:3]:
            app.execute(population(ccg, 100_000 + n))
    lines = [json.dumps(population(ccg, 200_000 + i)) for i, ccg in enumerate(CCGS * 2)]
    report = app.import_lines(lines, batch_size=100)
    assert report.rejected == 0


def audit(app: QPLedger, **kwargs: Any) -> AuditReport:
    store = recorder(app)
    with store.datastore.engine.connect() as conn:
        return audit_log(store.integrity, conn, store.index, **kwargs)


def tamper(app: QPLedger, statement: Any) -> None:
    """Change the database directly, as an administrator could."""
    with app.store.datastore.engine.begin() as conn:
        assert conn.execute(statement).rowcount != 0


def events(app: QPLedger) -> Table:
    table: Table = app.store.events_record_cls.__table__
    return table


# -- building the log -----------------------------------------------------------


def test_the_tree_covers_every_event_and_every_proof_verifies(ledger: QPLedger) -> None:
    populate(ledger)
    store = recorder(ledger)
    log = store.integrity
    with store.datastore.engine.connect() as conn:
        size, root = log.tree_head(conn)
        assert size == ledger.max_position() == 24  # 9 + 10 submissions, 5 streams opened
        positions = (
            conn.execute(
                select(store.integrity.leaves.c.position).order_by(
                    store.integrity.leaves.c.leaf_index
                )
            )
            .scalars()
            .all()
        )
        leaves = [log.leaf_bytes(conn, p, store.index) for p in positions]
        reference = MemoryTree.from_data(leaves)
        assert reference.root() == root
        for index, leaf in enumerate(leaves):
            for tree_size in (index + 1, size):
                proof = log.inclusion_proof(conn, index, tree_size)
                assert verify_inclusion(
                    leaf_hash(leaf), index, tree_size, proof, reference.root(tree_size)
                )
        for size1 in range(size + 1):
            proof = log.consistency_proof(conn, size1, size)
            assert verify_consistency(size1, size, proof, reference.root(size1), root)
            assert log.tree_head(conn, size1).root == reference.root(size1)
    report = audit(ledger)
    assert report.ok, report.problems
    assert (report.size, report.root) == (size, root)


def test_each_event_commits_to_its_predecessor_in_its_stream(ledger: QPLedger) -> None:
    populate(ledger, rounds=2)
    store = recorder(ledger)
    last_in_stream: dict[str, bytes] = {}
    with store.datastore.engine.connect() as conn:
        for position in range(1, ledger.max_position() + 1):
            leaf = store.integrity.leaf_bytes(conn, position, store.index)
            decoded = decode_leaf(leaf)
            assert decoded.previous_hash == last_in_stream.get(decoded.stream_id, b"")
            assert decoded.position == position
            last_in_stream[decoded.stream_id] = leaf_hash(leaf)
    assert len(last_in_stream) == len(CCGS)


def test_leaf_index_is_dense_when_positions_skip(ledger: QPLedger) -> None:
    store = recorder(ledger)
    oid = uuid4()
    store.insert_events([StoredEvent(oid, 1, "t", b"one")])
    with pytest.raises(IntegrityError):  # same version again: rolled back (PostgreSQL skips an id)
        store.insert_events([StoredEvent(oid, 1, "t", b"dup")])
    store.insert_events([StoredEvent(oid, 2, "t", b"two"), StoredEvent(uuid4(), 1, "t", b"x")])
    last = ledger.max_position()
    with store.datastore.engine.connect() as conn:
        assert store.integrity.tree_size(conn) == 3
        assert [store.integrity.leaf_index(conn, p) for p in (1, last)] == [0, 2]
        # What a decision computed at a position records: the tree it was computed from.
        sizes = [store.integrity.size_at_position(conn, p) for p in range(0, last + 1)]
        assert sizes[0] == 0 and sizes[1] == 1 and sizes[-1] == 3
        assert sizes == sorted(sizes)
    assert audit(ledger).ok


def test_checkpoints_sign_the_stored_tree_and_later_logs_extend_them(ledger: QPLedger) -> None:
    signer = Signer(ORIGIN, bytes(range(32)))
    store = recorder(ledger)
    populate(ledger, rounds=1)
    with store.datastore.engine.connect() as conn:
        saved = sign_checkpoint(ORIGIN, *store.integrity.tree_head(conn), signer)
    populate(ledger, rounds=1)
    old = verify_checkpoint(saved, str(signer.verifier))
    with store.datastore.engine.connect() as conn:
        size, root = store.integrity.tree_head(conn)
        proof = store.integrity.consistency_proof(conn, old.size, size)
    assert size > old.size
    assert verify_consistency(old.size, size, proof, old.root, root)
    assert audit(ledger, checkpoint=old).ok


def test_sizes_beyond_the_tree_are_refused(ledger: QPLedger) -> None:
    populate(ledger, rounds=1)
    store = recorder(ledger)
    with store.datastore.engine.connect() as conn:
        size = store.integrity.tree_size(conn)
        with pytest.raises(TreeSizeError):
            store.integrity.inclusion_proof(conn, 0, size + 1)
        with pytest.raises(TreeSizeError):
            store.integrity.consistency_proof(conn, 1, size + 1)
        with pytest.raises(TreeSizeError):
            store.integrity.leaf_bytes(conn, 10_000, store.index)


def test_appends_and_proofs_are_a_fixed_number_of_statements(ledger: QPLedger) -> None:
    """O(log n): statements per write and per proof do not grow with the log."""
    store = recorder(ledger)
    engine: Engine = store.datastore.engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    populate(ledger, rounds=2)
    oid = uuid4()
    event.listen(engine, "before_cursor_execute", count)
    try:
        for version in (1, 2, 3):
            statements.clear()
            store.insert_events([StoredEvent(oid, version, "t", b"x")])
            ours = [s for s in statements if "event_hashes" in s or "merkle_nodes" in s]
            assert len(ours) <= 4, ours  # state + right edge reads, leaf + node inserts
        with engine.connect() as conn:
            size = store.integrity.tree_size(conn)
            for index in (0, size // 2, size - 1):
                statements.clear()
                store.integrity.inclusion_proof(conn, index, size)
                assert len(statements) <= 3  # tree size, then leaves and nodes
            statements.clear()
            store.integrity.consistency_proof(conn, 5, size)
            assert len(statements) <= 3
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_rolled_back_append_leaves_no_trace(ledger: QPLedger) -> None:
    """The recorder remembers its right edge between writes; a rollback must not fool it."""
    populate(ledger, rounds=1)
    store = recorder(ledger)
    before = ledger.max_position()
    with pytest.raises(RuntimeError, match="abandoned"), store.transaction(commit=True) as session:
        store._insert_stored_events(session, [StoredEvent(uuid4(), 1, "t", b"gone")])
        raise RuntimeError("abandoned")
    assert ledger.max_position() == before
    store.insert_events([StoredEvent(uuid4(), 1, "t", b"kept")])
    report = audit(ledger)
    assert report.ok, report.problems
    assert report.size == before + 1


def test_two_writers_taking_turns_keep_one_tree(database_url: str) -> None:
    first, second = open_ledger(database_url), open_ledger(database_url)
    try:
        for n in range(9):  # sizes pass through every right-edge shape
            writer = first if n % 3 else second
            writer.execute(population(CCGS[n % 2], n + 1))
        report = audit(first)
        assert report.ok, report.problems
        assert report.size == first.max_position() == 11
    finally:
        first.close()
        second.close()


# -- tampering, made directly in the database ------------------------------------------


def test_an_untouched_database_passes(ledger: QPLedger) -> None:
    populate(ledger)
    report = audit(ledger)
    assert report.ok and report.first_bad_position is None


def test_an_edited_payload_is_named(ledger: QPLedger) -> None:
    populate(ledger)
    ev = events(ledger)
    tamper(ledger, ev.update().where(ev.c.id == 7).values(state=b'{"population": 1}'))
    report = audit(ledger)
    assert report.first_bad_position == 7
    assert "does not match its leaf hash" in str(report.problems[0])


def test_a_deleted_event_is_named(ledger: QPLedger) -> None:
    populate(ledger)
    ev, idx = events(ledger), ledger.store.index
    tamper(ledger, ev.delete().where(ev.c.id == 5))
    tamper(ledger, idx.delete().where(idx.c.position == 5))
    report = audit(ledger)
    assert report.first_bad_position == 5
    assert "event is missing" in str(report.problems[0])


def test_an_inserted_event_is_named_and_stops_further_writes(ledger: QPLedger) -> None:
    populate(ledger)
    last = ledger.max_position()
    ev = events(ledger)
    tamper(
        ledger,
        ev.insert().values(
            id=last + 1, originator_id=uuid4(), originator_version=1, topic="forged", state=b"{}"
        ),
    )
    report = audit(ledger)
    assert report.first_bad_position == last + 1
    assert "not in the Merkle log" in str(report.problems[0])
    with pytest.raises(IntegrityLogBehind, match=f"up to position {last}"):
        ledger.execute(population("06F", 1))


def test_swapped_events_are_named(ledger: QPLedger) -> None:
    populate(ledger)
    ev = events(ledger)
    with ledger.store.datastore.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(ev).where(ev.c.id.in_([9, 12])))}
    for here, there in ((9, 12), (12, 9)):
        row = rows[there]
        tamper(ledger, ev.update().where(ev.c.id == here).values(topic=row.topic, state=row.state))
    report = audit(ledger)
    assert report.first_bad_position == 9


def test_a_changed_recorded_time_is_named(ledger: QPLedger) -> None:
    populate(ledger)
    idx = ledger.store.index
    tamper(
        ledger, idx.update().where(idx.c.position == 11).values(recorded_us=idx.c.recorded_us - 1)
    )
    assert audit(ledger).first_bad_position == 11


def test_tampered_hashes_and_nodes_are_reported(ledger: QPLedger) -> None:
    populate(ledger)
    store = recorder(ledger)
    nodes, leaves = store.integrity.nodes, store.integrity.leaves
    tamper(
        ledger, nodes.update().where(nodes.c.level == 2, nodes.c.idx == 1).values(hash=bytes(32))
    )
    report = audit(ledger)
    assert not report.ok
    assert "Merkle node (level 2, index 1) over leaves 4..7 (from position 5)" in str(
        report.problems[0]
    )
    tamper(ledger, leaves.update().where(leaves.c.position == 3).values(leaf_hash=bytes(32)))
    assert audit(ledger).first_bad_position == 3


def test_a_consistently_rewritten_log_fails_against_a_saved_checkpoint(ledger: QPLedger) -> None:
    """An operator who edits an event *and* rebuilds every hash is caught by the checkpoint."""
    populate(ledger)
    store = recorder(ledger)
    with store.datastore.engine.connect() as conn:
        saved = verify_checkpoint(
            sign_checkpoint(ORIGIN, *store.integrity.tree_head(conn), Signer(ORIGIN, bytes(32))),
            Signer(ORIGIN, bytes(32)).verifier,
        )
    ev = events(ledger)
    tamper(ledger, ev.update().where(ev.c.id == 4).values(state=b'{"population": 1}'))
    for table in store.integrity.tables:
        tamper(ledger, table.delete())
    assert rebuild_log(store) == saved.size
    assert audit(ledger).ok  # the hashes now agree with the edited events...
    report = audit(ledger, checkpoint=saved)  # ...but not with what was published
    assert not report.ok
    assert "do not hash to the checkpoint's root" in str(report.problems[0])


# -- events the Merkle log does not cover ---------------------------------------------------


def test_events_the_merkle_log_does_not_cover_stop_writes_until_it_is_rebuilt(
    ledger: QPLedger,
) -> None:
    populate(ledger, rounds=1)
    store = recorder(ledger)
    for table in store.integrity.tables:  # as if written before the Merkle log existed
        tamper(ledger, table.delete())
    with pytest.raises(IntegrityLogBehind, match="covers no events"):
        ledger.execute(population("06F", 5))
    assert rebuild_log(store) == ledger.max_position()
    ledger.execute(population("06F", 5))
    assert audit(ledger).ok
    with pytest.raises(IntegrityLogBehind, match="not empty"):
        rebuild_log(store)


# -- concurrent writers ----------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_writers_keep_one_consistent_tree(postgres_url: str) -> None:
    apps = [open_ledger(postgres_url) for _ in range(4)]
    errors: list[BaseException] = []

    def write(app: QPLedger, ccg: str) -> None:
        try:
            for n in range(15):
                app.execute(population(ccg, n + 1))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [
        threading.Thread(target=write, args=(app, ccg))
        for app, ccg in zip(apps, CCGS, strict=False)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        report = audit(apps[0])
        assert report.ok, report.problems
        assert report.size == apps[0].max_position() == 4 * 16
    finally:
        for app in apps:
            app.close()
