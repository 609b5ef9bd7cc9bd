"""Group commit on PostgreSQL (ledger/adapters/group_commit.py): exact, whatever is queued.

A batch is made certain, not hoped for: another connection holds the events
table's lock, the first writer leads and waits on it, the next writers queue
behind it one by one (in a known order), then the lock is let go. Then:

* the batch stores exactly the rows (positions, recorded times, leaves,
  nodes, idempotency rows) and gives exactly the receipts that the same
  writes in the same order store and give one at a time;
* a stale conditional write in a batch gets its ordinary 409 and the others
  are stored in that same transaction, with no position left unused; a key
  reused within a batch rolls the batch back, every write is run again
  alone, the others are stored and one of the two keyed writes is refused;
* many threads (and a second ledger, as another process) writing to the
  same and different CCGs: every receipt is in the log once, at its
  position, positions have no gap, and ``qp-ledger verify`` passes;
* a connection cut while a batch waits for the lock stores none of it
  twice: every write is acknowledged once or retried with its key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import eventsourcing.domain
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from ledger.adapters.group_commit import GroupCommit
from ledger.cli.main import main
from ledger.domain.ccgs import ccgs
from ledger.domain.errors import ConcurrencyConflict, LedgerError
from ledger.service.application import QPLedger, Receipt
from tests.conftest import reset_postgres
from tests.integration.test_write_path import log_rows, ticking_clock
from tests.integration.test_write_path import submit as submit_with_reason

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: Ten CCGs: a write of each can be in one batch (writes to one record take turns).
CCGS = list(ccgs())[:10]


def submit(ccg: str, value: int) -> dict[str, Any]:
    """A measure value with no free text (free text may be stored with a random salt)."""
    return {k: v for k, v in submit_with_reason(ccg, value).items() if k != "reason"}


def group(ledger: QPLedger) -> GroupCommit:
    found = ledger.store.group_commit
    assert found is not None, "PostgreSQL writes are grouped"
    return found


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


class Batch:
    """Writes that will share one transaction: queued in order behind a leader held on the lock."""

    def __init__(self, ledger: QPLedger, url: str) -> None:
        self.ledger = ledger
        self.url = url
        self.outcomes: dict[str, Receipt | BaseException] = {}
        self.threads: list[threading.Thread] = []
        self.engine = create_engine(url)
        self.holder: Connection | None = None

    def __enter__(self) -> Batch:
        self.holder = self.engine.connect()
        self.holder.execute(text("LOCK TABLE qpledger_events IN EXCLUSIVE MODE"))
        return self

    def lock_waiters(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%'"
                    )
                ).scalar_one()
            )

    def leader(self, name: str, write: Callable[[], Receipt]) -> None:
        """The first write: it leads alone, and waits on the held lock."""
        self._start(name, write)
        until(lambda: self.lock_waiters() == 1, "the leader waits on the lock")

    def queue(self, name: str, write: Callable[[], Receipt]) -> None:
        queued = group(self.ledger).waiting()
        self._start(name, write)
        until(lambda: group(self.ledger).waiting() == queued + 1, f"{name} is queued")

    def _start(self, name: str, write: Callable[[], Receipt]) -> None:
        def body() -> None:
            try:
                self.outcomes[name] = write()
            except BaseException as e:  # asserted on by the test
                self.outcomes[name] = e

        thread = threading.Thread(target=body, name=name)
        thread.start()
        self.threads.append(thread)

    def __exit__(self, *exc: object) -> None:
        assert self.holder is not None
        self.holder.rollback()
        self.holder.close()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a writer hung"
        self.engine.dispose()


def writes(ledger: QPLedger) -> list[tuple[str, Callable[[], Receipt]]]:
    """A leader, then a batch: four CCGs, a keyed write, a new record (two events), an import."""

    def imported() -> Any:
        report = ledger.import_lines(
            [f'{{"type": "population_recorded", "ccg": "{c}", "scheme": "qp-2013-14", '
             f'"population": {p}, "source": "ONS"}}' for p, c in enumerate(CCGS[7:9], 1000)]
        )  # fmt: skip
        assert report.stored == 2
        return report.last_position

    one: list[tuple[str, Callable[[], Receipt]]] = [
        (c, lambda c=c, n=n: ledger.execute(submit(c, 10 + n), actor="t"))  # type: ignore[misc]
        for n, c in enumerate(CCGS[:5])
    ]
    keyed = CCGS[5]
    return [
        *one,
        ("keyed", lambda: ledger.execute(submit(keyed, 8), actor="t", idempotency_key="k-1")),
        ("new record", lambda: ledger.execute(submit(CCGS[6], 7), actor="t")),
        ("import", imported),
    ]


def opened(ledger: QPLedger, ccgs: list[str]) -> None:
    for n, c in enumerate(ccgs):
        ledger.execute(submit(c, n), actor="t")


@pytest.fixture
def pinned_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # One key file for both ledgers, so that whatever it authenticates compares too.
    monkeypatch.setenv("QP_LEDGER_SNAPSHOT_KEY_FILE", str(tmp_path / "one.key"))
    # Events carry their creation time: pin it, so both logs hold the same bytes.
    monkeypatch.setattr(
        eventsourcing.domain,
        "datetime_now_with_tzinfo",
        lambda: datetime(2014, 3, 31, 12, 0, tzinfo=UTC),
    )


def receipt_fields(outcome: Any) -> Any:
    if isinstance(outcome, Receipt):
        return (outcome.event_id, outcome.version, outcome.position, outcome.recorded_at)
    return outcome  # the import's last history entry


def test_a_batch_stores_exactly_what_the_same_writes_store_one_at_a_time(
    postgres_url: str, pinned_time: None
) -> None:
    results = {}
    for grouped in (False, True):
        reset_postgres()
        ledger = QPLedger(postgres_url)
        ledger.store.clock = ticking_clock().__next__
        try:
            opened(ledger, CCGS[:6])
            batch = writes(ledger)
            if grouped:
                with Batch(ledger, postgres_url) as b:
                    b.leader(*batch[0])
                    for name, write in batch[1:]:
                        b.queue(name, write)
                outcomes = b.outcomes
                stats = group(ledger).stats
                assert (stats.batches, stats.largest, stats.failed) == (1, len(batch) - 1, 0)
            else:
                ledger.store.group_commit = None  # the ordinary path, one write at a time
                outcomes = {name: write() for name, write in batch}
            results[grouped] = (
                log_rows(ledger),
                {name: receipt_fields(o) for name, o in outcomes.items()},
            )
        finally:
            ledger.close()
    assert not [o for o in results[True][1].values() if isinstance(o, BaseException)]
    assert results[True] == results[False]
    # Six records opened (two events each), five writes, two new records of two events each.
    assert len(results[True][0]["events"]) == 12 + 6 + 2 + 4


def stale_write(ledger: QPLedger, other: QPLedger) -> Callable[[], Receipt]:
    """If-Match on the version this ledger holds, after another process moved the record on."""
    ccg = CCGS[9]
    held = ledger.history(ccg, "qp-2013-14")[-1]["version"]
    other.execute(submit(ccg, 99), actor="elsewhere")
    return lambda: ledger.execute(submit(ccg, 1), actor="t", expected_version=held)


@pytest.mark.parametrize("bad", [["stale"], ["key"], ["stale", "key"]])
def test_a_bad_write_in_a_batch_gets_its_own_error_and_the_others_are_stored(
    postgres_url: str, bad: list[str]
) -> None:
    ledger, other = QPLedger(postgres_url), QPLedger(postgres_url)
    try:
        opened(ledger, CCGS)
        stored_before = ledger.max_position()
        stale = stale_write(ledger, other)
        c = CCGS
        with Batch(ledger, postgres_url) as b:
            b.leader("leader", lambda: ledger.execute(submit(c[0], 1), actor="t"))
            b.queue("first", lambda: ledger.execute(submit(c[1], 1), actor="t"))
            if "stale" in bad:
                b.queue("stale", stale)
            b.queue("middle", lambda: ledger.execute(submit(c[2], 1), actor="t"))
            if "key" in bad:
                for name, ccg in [("key-1", c[3]), ("key-2", c[4])]:
                    b.queue(
                        name,
                        lambda ccg=ccg: ledger.execute(  # type: ignore[misc]
                            submit(ccg, 1), actor="t", idempotency_key="same"
                        ),
                    )
            b.queue("last", lambda: ledger.execute(submit(c[5], 1), actor="t"))
        stats = group(ledger).stats
        # The re-runs of a failed batch are alone (and refusals never reach the store).
        assert (stats.batches, stats.failed) == (1, int("key" in bad))
        outcomes = b.outcomes
        for name in ["leader", "first", "middle", "last"]:
            assert isinstance(outcomes[name], Receipt), outcomes[name]
        if "stale" in bad:
            assert isinstance(outcomes["stale"], ConcurrencyConflict), outcomes["stale"]
        if "key" in bad:
            keyed = sorted(type(outcomes[n]).__name__ for n in ["key-1", "key-2"])
            assert keyed == ["IdempotencyKeyReused", "Receipt"], outcomes
        assert_log_holds_exactly(ledger, [o for o in outcomes.values() if isinstance(o, Receipt)])
        if "key" not in bad:
            # Nothing rolled back: every position taken is a stored event.
            assert_gapless(ledger)
        assert ledger.max_position() > stored_before
    finally:
        other.close()
        ledger.close()


def assert_log_holds_exactly(ledger: QPLedger, receipts: list[Receipt]) -> None:
    """Every receipt is one stored event, at its position, with its recorded time."""
    positions = [r.position for r in receipts]
    assert len(set(positions)) == len(positions), "a position acknowledged twice"
    for r in receipts:
        found = [e for e in ledger.history(r.ccg, r.scheme) if e["position"] == r.position]
        assert [(e["id"], e["version"], e["recorded_at"]) for e in found] == [
            (r.event_id, r.version, r.recorded_at)
        ]


def assert_gapless(ledger: QPLedger) -> None:
    with ledger.store.datastore.engine.connect() as conn:  # type: ignore[union-attr]
        ids = [r[0] for r in conn.execute(text("SELECT id FROM qpledger_events ORDER BY id"))]
    assert ids == list(range(1, len(ids) + 1))


def assert_verifies(url: str) -> None:
    result = CliRunner().invoke(main, ["verify", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output


def test_many_threads_on_the_same_and_different_ccgs_lose_and_repeat_nothing(
    postgres_url: str,
) -> None:
    ledger, other = QPLedger(postgres_url), QPLedger(postgres_url)
    receipts: list[Receipt] = []
    refused: list[LedgerError] = []
    lock = threading.Lock()

    def writer(through: QPLedger, n: int) -> None:
        for i in range(6):
            ccg = CCGS[(n + i) % 3] if n % 2 else CCGS[n % 8]  # shared, and shared by two
            try:
                r = through.execute(
                    submit(ccg, n * 100 + i), actor=f"w{n}", idempotency_key=f"k-{n}-{i}"
                )
            except LedgerError as e:
                with lock:
                    refused.append(e)
            else:
                with lock:
                    receipts.append(r)

    try:
        opened(ledger, CCGS)
        with Batch(ledger, postgres_url) as b:
            b.leader("first", lambda: ledger.execute(submit(CCGS[9], 0), actor="t"))
            threads = [
                threading.Thread(target=writer, args=(other if n % 8 == 7 else ledger, n))
                for n in range(16)
            ]
            for t in threads:
                t.start()
            until(lambda: group(ledger).waiting() >= 4, "writers queue behind the leader")
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert refused == [] or all(isinstance(e, ConcurrencyConflict) for e in refused)
        assert len(receipts) + len(refused) == 16 * 6
        assert group(ledger).stats.largest >= 4
        assert_log_holds_exactly(ledger, receipts)
        assert_gapless(ledger)
        with ledger.store.datastore.engine.connect() as conn:  # type: ignore[union-attr]
            keys = conn.execute(
                text("SELECT key, position FROM qpledger_idempotency WHERE key LIKE 'k-%'")
            ).all()
        acked = {r.position for r in receipts}
        assert len(keys) == len(receipts) and {p for _, p in keys} == acked
        assert_verifies(postgres_url)
    finally:
        other.close()
        ledger.close()


@pytest.fixture
def cut_postgres(postgres_url: str) -> Iterator[Callable[[], int]]:
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def cut_lock_waiters() -> int:
        """The server drops the connections waiting on the events table's lock."""
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                        "AND query LIKE 'LOCK TABLE%'"
                    )
                ).scalar_one()
            )

    yield cut_lock_waiters
    engine.dispose()


def test_a_batch_cut_off_from_the_database_stores_each_write_once(
    postgres_url: str, cut_postgres: Callable[[], int]
) -> None:
    """A leader's connection dropped mid-batch: acks are stored once, keyed retries store once."""
    ledger = QPLedger(postgres_url)
    try:
        opened(ledger, CCGS)

        def keyed(c: str) -> Callable[[], Receipt]:
            return lambda: ledger.execute(submit(c, 555), actor="t", idempotency_key=f"cut-{c}")

        with Batch(ledger, postgres_url) as b:
            b.leader(CCGS[0], keyed(CCGS[0]))
            for c in CCGS[1:6]:
                b.queue(c, keyed(c))
            # Let the leader's write through, hold the lock again before the batch
            # takes it, and drop the batch's connection while it waits.
            blocker = b.engine.connect()
            second = threading.Thread(
                target=lambda: blocker.execute(text("LOCK TABLE qpledger_events IN EXCLUSIVE MODE"))
            )
            second.start()
            until(lambda: b.lock_waiters() == 2, "the second holder queues on the lock")
            assert b.holder is not None
            b.holder.rollback()
            second.join(timeout=30)
            until(lambda: b.lock_waiters() == 1, "the batch waits on the lock")
            assert cut_postgres() == 1
            blocker.rollback()
            blocker.close()
        assert group(ledger).stats.failed == 1
        first = dict(b.outcomes)
        assert isinstance(first[CCGS[0]], Receipt)
        # What a client does with a 503: retry with the same key, until it has a receipt.
        final = {}
        for c in CCGS[:6]:
            outcome = first[c]
            while not isinstance(outcome, Receipt):
                outcome = keyed(c)()
            final[c] = outcome
        assert_log_holds_exactly(ledger, list(final.values()))
        for c in CCGS[:6]:
            values = [e for e in ledger.history(c, "qp-2013-14") if e["fields"].get("value") == 555]
            assert len(values) == 1, (c, values)
        assert_verifies(postgres_url)
    finally:
        ledger.close()
