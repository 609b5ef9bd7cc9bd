"""The write path of issue 12: fused statements on PostgreSQL, no log read for a held record.

* PostgreSQL's two-statement write (ledger/adapters/pg_write.py) stores the
  same positions, recorded times, leaves and Merkle roots as the generic
  path SQLite takes, for the same commands and clock;
* a record held from this process's last save is written to without reading
  the log, and when another process moved it on meanwhile the write is
  retried on the log's state: nothing lost, nothing twice;
* a command refused on a held record is judged again on the log's state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import eventsourcing.domain
import pytest
from sqlalchemy import event, select

from ledger.adapters import sealing
from ledger.domain.errors import ConcurrencyConflict
from ledger.domain.record import stream_id
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"


def submit(ccg: str, value: int) -> dict[str, Any]:
    return {
        "type": "measure_submitted",
        "ccg": ccg,
        "scheme": SCHEME,
        "measure": "avoidable-emergency-admissions",
        "criterion": "admissions-rate",
        "period": "2013-14-Q1",
        "value": value,
        "reason": "test",
    }


def ticking_clock() -> Iterator[int]:
    t = 1_400_000_000_000_000
    while True:
        t += 7
        yield t


def write_sample(ledger: QPLedger) -> None:
    clock = ticking_clock()
    ledger.store.clock = lambda: next(clock)
    for i in range(9):
        ledger.execute(submit(["06F", "00C", "02N"][i % 3], 100 + i), actor="t")
    ledger.execute(submit("06F", 1), actor="t", idempotency_key="k-1")
    ledger.import_lines([json.dumps(submit(c, 200 + n)) for n, c in enumerate(["00C", "06F"] * 4)])


def log_rows(ledger: QPLedger) -> dict[str, list[tuple[Any, ...]]]:
    store = ledger.store
    tables = {
        "index": store.index,
        "leaves": store.integrity.leaves,
        "nodes": store.integrity.nodes,
        "idempotency": store.idempotency,
        "key_codes": store.key_codes.table,
    }
    with store.datastore.engine.connect() as conn:  # type: ignore[union-attr]
        out = {
            name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for name, t in tables.items()
        }
        events = store.events_record_cls.__table__
        out["events"] = [
            (r.id, str(r.originator_id), r.originator_version, r.topic, bytes(r.state))
            for r in conn.execute(select(events).order_by(events.c.id))
        ]
        out["head"] = [tuple(store.integrity.tree_head(conn))]
    return out


@pytest.mark.postgres
def test_postgres_writes_the_rows_the_generic_path_writes(
    sqlite_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One key for both, so their key codes can be compared too.
    monkeypatch.setenv("QP_LEDGER_SNAPSHOT_KEY_FILE", str(tmp_path / "codes.key"))
    # Events carry their creation time: pin it, so both logs hold the same bytes.
    monkeypatch.setattr(
        eventsourcing.domain,
        "datetime_now_with_tzinfo",
        lambda: datetime(2014, 3, 31, 12, 0, tzinfo=UTC),
    )
    # Reasons are sealed with a random salt: pin it too.
    monkeypatch.setattr(sealing, "new_salt", lambda: bytes(16))
    written = {}
    for url in (sqlite_url, postgres_url):
        ledger = QPLedger(url)
        try:
            write_sample(ledger)
            written[url] = log_rows(ledger)
        finally:
            ledger.close()
    assert written[sqlite_url] == written[postgres_url]
    assert len(written[postgres_url]["events"]) == 21  # 3 openings, 10 + 8 values


@pytest.mark.postgres
def test_a_postgres_append_is_four_round_trips(postgres_url: str) -> None:
    ledger = QPLedger(postgres_url)
    try:
        ledger.execute(submit("06F", 1), actor="t")
        ledger.execute(submit("06F", 2), actor="t")
        engine = ledger.store.datastore.engine
        sent: list[str] = []
        begun: list[str] = []

        def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            sent.append(statement)

        def on_commit(conn: Any) -> None:
            begun.append("COMMIT")

        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine, "commit", on_commit)
        try:
            ledger.execute(submit("06F", 3), actor="t")
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)
            event.remove(engine, "commit", on_commit)
        # The driver's BEGIN, these two, COMMIT: no read of the record, no NOTIFY of its own.
        assert len(sent) == 2, sent
        assert sent[0].startswith("LOCK TABLE") and "pg_notify" in sent[0]
        assert sent[1].startswith("WITH ")
        assert begun == ["COMMIT"]
    finally:
        ledger.close()


@pytest.fixture
def two_processes(database_url: str) -> Iterator[tuple[QPLedger, QPLedger]]:
    """Two ledgers on one database, as two server processes each holding what it last saved."""
    a, b = QPLedger(database_url), QPLedger(database_url)
    yield a, b
    a.close()
    b.close()


def test_a_held_record_moved_on_elsewhere_is_retried_on_the_log(
    two_processes: tuple[QPLedger, QPLedger],
) -> None:
    a, b = two_processes
    a.execute(submit("06F", 1), actor="a")  # a holds 06F at version 2
    b.execute(submit("06F", 2), actor="b")  # the log moves on without a knowing
    receipt = a.execute(submit("06F", 3), actor="a")
    assert receipt.version == 4
    events = list(a.events.get(stream_id("06F", SCHEME)))
    assert [e.originator_version for e in events] == [1, 2, 3, 4]
    values = [getattr(e, "value", None) for e in events[1:]]
    assert values == [1, 2, 3]
    # And the next write from a starts from what it saved, at the right version.
    assert a.execute(submit("06F", 4), actor="a").version == 5
    # The lost race took no position: the log has no gap.
    assert a.max_position() == 5


def test_a_conditional_write_is_judged_on_the_log_not_a_stale_hold(
    two_processes: tuple[QPLedger, QPLedger],
) -> None:
    a, b = two_processes
    a.execute(submit("06F", 1), actor="a")  # a holds version 2
    b.execute(submit("06F", 2), actor="b")  # the record is at version 3
    # A client that read version 3 (from b) may write through a.
    assert a.execute(submit("06F", 3), actor="a", expected_version=3).version == 4
    with pytest.raises(ConcurrencyConflict):
        a.execute(submit("06F", 4), actor="a", expected_version=3)


def test_a_keyed_retry_through_a_stale_hold_returns_the_first_receipt(
    two_processes: tuple[QPLedger, QPLedger],
) -> None:
    a, b = two_processes
    a.execute(submit("06F", 1), actor="a")
    first = b.execute(submit("06F", 2), actor="u", idempotency_key="k")
    again = a.execute(submit("06F", 2), actor="u", idempotency_key="k")
    assert again.replayed and not first.replayed
    assert (again.event_id, again.position, again.recorded_at) == (
        first.event_id,
        first.position,
        first.recorded_at,
    )
    assert len(list(a.events.get(stream_id("06F", SCHEME)))) == 3


def test_snapshots_taken_in_hand_are_the_state_the_log_replays_to(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record snapshotted as saved holds exactly what replaying its events gives."""
    from eventsourcing.application import Application, project_aggregate

    from ledger.demo.year import demo_commands

    ledger = QPLedger(database_url)
    try:
        read_back: list[int] = []
        library = Application.take_snapshot

        def spy(self: Any, aggregate_id: Any, version: Any = None, *args: Any) -> None:
            read_back.append(version)
            library(self, aggregate_id, version, *args)

        monkeypatch.setattr(Application, "take_snapshot", spy)
        commands = demo_commands(seed=2013, limit=4)  # several snapshots a batch
        report = ledger.import_lines(json.dumps(c) for c in commands)
        assert report.rejected == 0
        for i in range(60):  # one event a save: snapshots at 100 (and 50 for 02N) in hand
            ledger.execute(submit("06F", i), actor="t")
            ledger.execute(submit("02N", i), actor="t")
        assert read_back == []
        checked = 0
        for ccg in {c["ccg"] for c in commands} | {"02N"}:
            oid = stream_id(ccg, SCHEME)
            for snapshot in ledger.snapshots.get(oid):  # type: ignore[union-attr]
                replayed = project_aggregate(
                    None, ledger.events.get(oid, lte=snapshot.originator_version)
                )
                from_snapshot = snapshot.mutate(None)
                state = {k: v for k, v in vars(replayed).items() if k != "_pending_events"}
                held = {k: v for k, v in vars(from_snapshot).items() if k != "_pending_events"}
                assert held == state
                checked += 1
        assert checked >= 4
    finally:
        ledger.close()
