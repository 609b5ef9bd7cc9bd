"""Concurrent case assignments lose nothing and never count a case twice (issue 14).

A case command writes to the case's stream and to the records of the CCGs it
moves between, in one transaction. Eight writers on four separate ledgers
(as separate API workers would be) assign eight cases to the same CCG while
a ninth moves one case back and forth between two CCGs; every write either
gets a receipt or is refused having stored nothing, and at the end each
CCG's derived count is exactly the cases assigned to it.
"""

from __future__ import annotations

import threading
from typing import Any

from ledger.domain.errors import ConcurrencyConflict
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14-pir"
CCG, OTHER = "06F", "06P"
WRITERS = 8


def cmd(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": CCG, "scheme": SCHEME, **fields}


def report(case_id: str) -> dict[str, Any]:
    return cmd(
        "hcai_case_reported",
        case_id=case_id,
        organism="mrsa",
        specimen_date="2013-10-10",
        trust="RC1",
    )


def assign(case_id: str, to: str) -> dict[str, Any]:
    return cmd(
        "hcai_case_assigned",
        case_id=case_id,
        assigned_to=to,
        assigned_by="PIR",
        pir_reference=f"PIR-{case_id}-{to}",
    )


def count(ledger: QPLedger, ccg: str) -> int:
    document = ledger.decision(ccg, SCHEME).document
    hcai = next(c for c in document["components"] if c["measure"] == "hcai")
    return int(hcai["criteria"][0]["value"])


def test_concurrent_assignments_to_one_ccg(database_url: str) -> None:
    ledgers = [QPLedger(database_url) for _ in range(4)]
    crashed: list[BaseException] = []
    conflicts: list[str] = []
    try:
        setup = ledgers[0]
        for ccg in (CCG, OTHER):
            setup.execute(
                {
                    "type": "population_recorded",
                    "ccg": ccg,
                    "scheme": SCHEME,
                    "population": 100_000,
                    "source": "ONS",
                }
            )
        setup.execute(report("SWING"))
        setup.execute(assign("SWING", f"ccg:{OTHER}"))
        cases = [f"C-{n}" for n in range(WRITERS)]
        for case_id in cases:
            setup.execute(report(case_id))

        def writer(n: int) -> None:
            try:
                ledgers[n % 4].execute(assign(cases[n], f"ccg:{CCG}"), actor=f"t{n}")
            except ConcurrencyConflict:
                conflicts.append(cases[n])
            except BaseException as e:
                crashed.append(e)

        def swinger() -> None:
            try:
                for i in range(6):
                    to = f"ccg:{CCG}" if i % 2 == 0 else f"ccg:{OTHER}"
                    ledgers[3].execute(assign("SWING", to), actor="swing")
            except BaseException as e:
                crashed.append(e)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        threads.append(threading.Thread(target=swinger))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert crashed == []
        fresh = QPLedger(database_url)
        try:
            swing = fresh.load_case(SCHEME, "SWING")
            assert swing is not None and swing.assigned_to == f"ccg:{OTHER}"
            assigned = [c for c in cases if c not in conflicts]
            assert count(fresh, CCG) == len(assigned)
            assert count(fresh, OTHER) == 1
            for case_id in conflicts:  # a refused write stored nothing
                stored = fresh.load_case(SCHEME, case_id)
                assert stored is not None and stored.assigned_to is None
        finally:
            fresh.close()
    finally:
        for ledger in ledgers:
            ledger.close()
