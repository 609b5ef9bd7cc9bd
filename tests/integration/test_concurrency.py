"""Concurrent writes to one CCG never lose an event (DESIGN.md "Errors and bad input").

16 threads write to the same CCG's record at once, through one shared
``QPLedger`` and through four separate instances on the same database (as
separate API workers would), on a SQLite file and on PostgreSQL. Every
acknowledged receipt must be exactly one stored event: as many events stored
as receipts given, no position or version handed out twice, and the rules
checked on fresh state (a flag id raced by 16 writers is accepted once).

A write may be refused with ``ConcurrencyConflict`` ("try again") when it
loses too many races; a refused write must then have stored nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from ledger.domain.errors import ConcurrencyConflict, LedgerError, RuleViolation
from ledger.service.application import ImportReport, QPLedger, Receipt

pytestmark = pytest.mark.slow

SCHEME = "qp-2013-14"
CCG = "06F"
THREADS = 16
WRITES_PER_THREAD = 4


def flag(flag_id: str) -> dict[str, Any]:
    return {
        "type": "quality_failure_flagged",
        "ccg": CCG,
        "scheme": SCHEME,
        "flag_id": flag_id,
        "description": "raised concurrently",
    }


class Outcomes:
    """What every write came back with: a receipt, or the error it was refused with."""

    def __init__(self) -> None:
        self.receipts: dict[str, Receipt] = {}
        self.refused: dict[str, LedgerError] = {}
        self.crashed: list[BaseException] = []
        self._lock = threading.Lock()

    def write(self, ledger: QPLedger, flag_id: str, actor: str) -> None:
        try:
            receipt = ledger.execute(flag(flag_id), actor=actor)
        except LedgerError as e:
            with self._lock:
                self.refused[flag_id] = e
        else:
            with self._lock:
                self.receipts[flag_id] = receipt


def run_threads(work: Callable[[int], None], outcomes: Outcomes) -> None:
    """Start all threads at once (a barrier), wait for all; any crash is recorded."""
    barrier = threading.Barrier(THREADS)

    def body(n: int) -> None:
        barrier.wait()
        try:
            work(n)
        except BaseException as e:  # every unexpected failure is asserted on below
            outcomes.crashed.append(e)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert outcomes.crashed == []


def stored_flags(ledger: QPLedger) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    history = ledger.history(CCG, SCHEME)
    # The record was opened by whichever writer got in first: one extra event.
    assert history[0]["type"] == "record_opened"
    assert [e["type"] for e in history[1:]] == ["quality_failure_flagged"] * (len(history) - 1)
    positions = [e["position"] for e in history]
    assert positions == sorted(set(positions))
    # The head is the last event (PostgreSQL may leave unused positions behind:
    # see test_replay.py::test_a_position_left_unused_by_a_lost_race_still_replays).
    assert ledger.max_position() == positions[-1]
    return history, {e["fields"]["flag_id"]: e for e in history[1:]}


def assert_acknowledged_exactly_what_was_stored(ledger: QPLedger, outcomes: Outcomes) -> None:
    history, by_flag = stored_flags(ledger)
    receipts = list(outcomes.receipts.values())
    assert len(history) - 1 == len(receipts)
    assert sorted(by_flag) == sorted(outcomes.receipts)
    positions = [r.position for r in receipts]
    versions = [r.version for r in receipts]
    assert len(set(positions)) == len(positions), "a log position was acknowledged twice"
    assert len(set(versions)) == len(versions), "a stream version was acknowledged twice"
    for flag_id, r in outcomes.receipts.items():
        event = by_flag[flag_id]
        assert (event["id"], event["position"], event["version"], event["recorded_at"]) == (
            r.event_id,
            r.position,
            r.version,
            r.recorded_at,
        )
    # A refused write stored nothing.
    assert not set(outcomes.refused) & set(by_flag)
    # What the receipts acknowledged is what the decision is built on.
    active = ledger.decision(CCG, SCHEME).document["gates"][0]["active_flags"]
    assert sorted(active) == sorted(outcomes.receipts)


def assert_only_asked_to_try_again(outcomes: Outcomes) -> None:
    assert all(isinstance(e, ConcurrencyConflict) for e in outcomes.refused.values()), (
        outcomes.refused
    )
    assert len(outcomes.receipts) + len(outcomes.refused) == THREADS * WRITES_PER_THREAD


def test_sixteen_threads_through_one_ledger(database_url: str) -> None:
    ledger = QPLedger(database_url)
    outcomes = Outcomes()
    try:
        run_threads(
            lambda n: [
                outcomes.write(ledger, f"QF-{n}-{i}", f"writer-{n}")
                for i in range(WRITES_PER_THREAD)
            ],
            outcomes,
        )
        assert_only_asked_to_try_again(outcomes)
        assert_acknowledged_exactly_what_was_stored(ledger, outcomes)
    finally:
        ledger.close()


def test_sixteen_threads_through_four_ledgers_on_one_database(database_url: str) -> None:
    ledgers = [QPLedger(database_url) for _ in range(4)]
    outcomes = Outcomes()
    try:
        run_threads(
            lambda n: [
                outcomes.write(ledgers[n % 4], f"QF-{n}-{i}", f"writer-{n}")
                for i in range(WRITES_PER_THREAD)
            ],
            outcomes,
        )
        assert_only_asked_to_try_again(outcomes)
        for ledger in ledgers:
            assert_acknowledged_exactly_what_was_stored(ledger, outcomes)
    finally:
        for ledger in ledgers:
            ledger.close()


def test_a_flag_id_raced_by_sixteen_writers_is_accepted_once(database_url: str) -> None:
    ledgers = [QPLedger(database_url) for _ in range(4)]
    outcomes = Outcomes()
    try:

        def work(n: int) -> None:
            try:
                receipt = ledgers[n % 4].execute(flag("QF-RACE"), actor=f"writer-{n}")
            except LedgerError as e:
                outcomes.refused[f"writer-{n}"] = e
            else:
                outcomes.receipts[f"writer-{n}"] = receipt

        run_threads(work, outcomes)
        # Rules are checked on fresh state: exactly one writer wins the flag id.
        assert len(outcomes.receipts) == 1
        assert len(outcomes.refused) == THREADS - 1
        assert all(isinstance(e, RuleViolation) for e in outcomes.refused.values()), (
            outcomes.refused
        )
        assert all(
            "'QF-RACE' has already been used" in e.message for e in outcomes.refused.values()
        )
        history, by_flag = stored_flags(ledgers[0])
        assert list(by_flag) == ["QF-RACE"] and len(history) == 2
        (winner,) = outcomes.receipts.values()
        assert by_flag["QF-RACE"]["id"] == winner.event_id
    finally:
        for ledger in ledgers:
            ledger.close()


def test_concurrent_imports_report_truthfully(database_url: str) -> None:
    """Batched imports that lose a race are replayed line by line. Every valid line is
    either stored or reported as rejected (a concurrency conflict: try again); the
    report's counts are exactly what reached the log."""
    ledgers = [QPLedger(database_url) for _ in range(4)]
    lines_per_thread = 6
    outcomes = Outcomes()
    reports: dict[int, ImportReport] = {}
    try:

        def work(n: int) -> None:
            lines = [json.dumps(flag(f"QF-IMPORT-{n}-{i}")) for i in range(lines_per_thread)]
            lines.append(json.dumps(flag(f"QF-IMPORT-{n}-0")))  # a re-used id: always rejected
            reports[n] = ledgers[n % 4].import_lines(lines, actor=f"importer-{n}", batch_size=3)

        run_threads(work, outcomes)
        history, by_flag = stored_flags(ledgers[0])
        assert sum(r.stored for r in reports.values()) == len(history) - 1
        for n, report in reports.items():
            assert report.stored + report.rejected == lines_per_thread + 1
            rejected = {e["line"]: e for e in report.errors}
            last = lines_per_thread + 1
            if 1 not in rejected:
                assert rejected[last]["code"] == "rule-violation"
            elif last in rejected:
                # line 1 was refused, so line 7 was the first use of its flag id
                assert rejected[last]["code"] == "concurrency-conflict"
            for i in range(lines_per_thread):
                flag_id = f"QF-IMPORT-{n}-{i}"
                if i + 1 in rejected:
                    assert rejected[i + 1]["code"] == "concurrency-conflict"
                    assert flag_id not in by_flag or (i == 0 and last not in rejected)
                else:
                    assert by_flag[flag_id]["actor"] == f"importer-{n}"
    finally:
        for ledger in ledgers:
            ledger.close()
