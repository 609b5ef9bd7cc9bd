"""Property tests of MRSA counts derived from case events, on SQLite and PostgreSQL (issue 14).

Hypothesis writes random valid case histories (reports, assignments,
reassignments, withdrawals) across three CCGs, trusts and third parties,
keeping an independent model of who each case is assigned to, and checks:

* the derived ``mrsa-cases`` count of each CCG at every position P equals the
  number of the model's cases, specimen-dated in 2013/14, not withdrawn and
  assigned to that CCG at P (checked after each command, and again by replay
  at every earlier position once the history is complete);
* a case that is never assigned to a CCG never changes that CCG's decision,
  inputs digest included, wherever it was reported and however often it
  moves between others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.service.application import QPLedger
from tests.ledgerkit import Ledgers, fresh_ledger_examples

SCHEME = "qp-2013-14-pir"
CCGS = ("06F", "06P", "06N")
WATCHED = "06F"
TRUSTS = ("trust:RC9", "trust:RWE", "trust:R1K")
#: in the year, on its edges, and just outside it
DATES = ("2013-04-01", "2013-11-05", "2014-03-31", "2013-03-31", "2014-04-01")
FIRST, LAST = "2013-04-01", "2014-03-31"

SETTINGS = fresh_ledger_examples(12)


@dataclass
class Case:
    reported_against: str
    specimen_date: str
    assigned_to: str | None = None
    withdrawn: bool = False


def counts(model: dict[str, Case]) -> dict[str, int]:
    return {
        ccg: sum(
            1
            for c in model.values()
            if c.assigned_to == f"ccg:{ccg}"
            and not c.withdrawn
            and FIRST <= c.specimen_date <= LAST
        )
        for ccg in CCGS
    }


def derived(ledger: QPLedger, ccg: str, **point: Any) -> int:
    document = ledger.decision(ccg, SCHEME, **point).document
    hcai = next(c for c in document["components"] if c["measure"] == "hcai")
    line = next(c for c in hcai["criteria"] if c["criterion"] == "mrsa-cases")
    return int(line["value"])


@pytest.fixture
def ledgers(database_url: str) -> Ledgers:
    return Ledgers(database_url)


def opened(ledger: QPLedger) -> None:
    for ccg in CCGS:
        ledger.execute(
            {
                "type": "population_recorded",
                "ccg": ccg,
                "scheme": SCHEME,
                "population": 100_000,
                "source": "ONS",
            },
            actor="test:setup",
        )


def next_command(
    data: st.DataObject, model: dict[str, Case], assignees: list[str]
) -> dict[str, Any]:
    """One valid case command, chosen among what the model allows now."""
    open_cases = sorted(k for k, c in model.items() if not c.withdrawn)
    choices = ["report"] + (["assign", "assign", "withdraw"] if open_cases else [])
    action = data.draw(st.sampled_from(choices), label="action")
    if action == "report":
        case_id = f"MRSA-{len(model) + 1}"
        ccg = data.draw(st.sampled_from(CCGS), label="reported against")
        date = data.draw(st.sampled_from(DATES), label="specimen date")
        model[case_id] = Case(ccg, date)
        return {
            "type": "hcai_case_reported",
            "ccg": ccg,
            "scheme": SCHEME,
            "case_id": case_id,
            "organism": "mrsa",
            "specimen_date": date,
            "trust": "RC9",
        }
    case_id = data.draw(st.sampled_from(open_cases), label="case")
    case = model[case_id]
    base = {"ccg": case.reported_against, "scheme": SCHEME, "case_id": case_id}
    if action == "withdraw":
        case.withdrawn = True
        return {"type": "hcai_case_withdrawn", **base}
    to = data.draw(st.sampled_from(assignees), label="assigned to")
    case.assigned_to = to
    return {
        "type": "hcai_case_assigned",
        **base,
        "assigned_to": to,
        "assigned_by": "PIR",
        "pir_reference": f"PIR-{case_id}",
    }


@SETTINGS
@given(data=st.data())
def test_the_derived_count_is_the_cases_assigned_at_p(
    ledgers: Ledgers, data: st.DataObject
) -> None:
    assignees = [*(f"ccg:{c}" for c in CCGS), *TRUSTS, "third-party"]
    model: dict[str, Case] = {}
    expected_at: dict[int, dict[str, int]] = {}
    ledger = ledgers.fresh()
    try:
        opened(ledger)
        expected_at[ledger.max_position()] = counts(model)
        for _ in range(data.draw(st.integers(1, 12), label="commands")):
            command = next_command(data, model, assignees)
            receipt = ledger.execute(command, actor="test:pir")
            expected = counts(model)
            now = {c: derived(ledger, c) for c in CCGS}
            assert now == expected, command
            expected_at[receipt.position] = expected
        for position, expected in expected_at.items():
            assert {c: derived(ledger, c, position=position) for c in CCGS} == expected
    finally:
        ledger.close()


@SETTINGS
@given(data=st.data())
def test_a_case_assigned_elsewhere_never_changes_a_decision(
    ledgers: Ledgers, data: st.DataObject
) -> None:
    elsewhere = [f"ccg:{c}" for c in CCGS if c != WATCHED] + [*TRUSTS, "third-party"]
    model: dict[str, Case] = {}
    ledger = ledgers.fresh()
    try:
        opened(ledger)
        before = ledger.decision(WATCHED, SCHEME).document
        untouched = {k: v for k, v in before.items() if k not in {"as_of", "position", "log"}}
        for _ in range(data.draw(st.integers(1, 12), label="commands")):
            command = next_command(data, model, elsewhere)
            ledger.execute(command, actor="test:pir")
            after = ledger.decision(WATCHED, SCHEME).document
            assert {k: after[k] for k in untouched} == untouched, command
            assert after["inputs_digest"] == before["inputs_digest"]
    finally:
        ledger.close()
