"""HCAI case commands that are refused: the error, its message, and nothing stored (issue 14).

Each is checked on SQLite and PostgreSQL through ``QPLedger.execute`` and
through ``import_lines``. "Nothing stored" is the log's head, the records of
the CCGs involved, their decisions and the state of the cases already there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger.domain.errors import InvalidCommand, LedgerError, RuleViolation, UnknownCCG
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14-pir"
#: 06P reports the cases; 06F is where OPEN is assigned; WITHDRAWN was withdrawn.
REPORTER, ASSIGNEE = "06P", "06F"
OPEN, WITHDRAWN = "MRSA-1", "MRSA-W"
TRUST_MESSAGE = "is not an ODS trust code (R followed by two capital letters or digits, e.g. RWE)"


def cmd(kind: str, ccg: str = REPORTER, scheme: str = SCHEME, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": scheme, **fields}


def report(case_id: str, **overrides: Any) -> dict[str, Any]:
    fields = {"organism": "mrsa", "specimen_date": "2013-10-02", "trust": "RC9", **overrides}
    return cmd("hcai_case_reported", case_id=case_id, **fields)


def assign(case_id: str, to: str, **overrides: Any) -> dict[str, Any]:
    fields = {"assigned_by": "PIR lead", "pir_reference": "PIR-1", **overrides}
    return cmd("hcai_case_assigned", case_id=case_id, assigned_to=to, **fields)


def seed(ledger: QPLedger) -> None:
    for command in [
        report(OPEN),
        assign(OPEN, f"ccg:{ASSIGNEE}"),
        report(WITHDRAWN),
        assign(WITHDRAWN, f"ccg:{REPORTER}"),
        cmd("hcai_case_withdrawn", case_id=WITHDRAWN, reason="contaminant"),
    ]:
        ledger.execute(command, actor="test:seed")


def state(ledger: QPLedger) -> tuple[Any, ...]:
    """Everything a refused case command must leave untouched."""
    cases = [ledger.load_case(SCHEME, c) for c in (OPEN, WITHDRAWN)]
    return (
        ledger.max_position(),
        *(ledger.history(c, SCHEME) for c in (REPORTER, ASSIGNEE, "00C")),
        *(ledger.decision(c, SCHEME).document for c in (REPORTER, ASSIGNEE)),
        [(c.version, c.assigned_to, c.withdrawn) for c in cases if c is not None],
    )


CASES = [
    (
        "unknown-case",
        assign("MRSA-NEVER", "trust:RC9"),
        RuleViolation,
        "case_id: no case 'MRSA-NEVER' has been reported in qp-2013-14-pir; "
        "send hcai_case_reported first",
    ),
    (
        "withdraw-unknown-case",
        cmd("hcai_case_withdrawn", case_id="MRSA-NEVER"),
        RuleViolation,
        "case_id: no case 'MRSA-NEVER' has been reported in qp-2013-14-pir; "
        "send hcai_case_reported first",
    ),
    (
        "assigned-to-unknown-ccg",
        assign(OPEN, "ccg:99Z"),
        UnknownCCG,
        "assigned_to: '99Z' is not a CCG of April 2013, so a case cannot be assigned to it",
    ),
    (
        "malformed-trust",
        report("MRSA-2", trust="RC"),
        InvalidCommand,
        f"trust: 'RC' {TRUST_MESSAGE}",
    ),
    (
        "lower-case-trust",
        report("MRSA-2", trust="rc9"),
        InvalidCommand,
        f"trust: 'rc9' {TRUST_MESSAGE}",
    ),
    (
        "malformed-assigned-trust",
        assign(OPEN, "trust:XC9"),
        InvalidCommand,
        f"assigned_to: 'XC9' {TRUST_MESSAGE}",
    ),
    (
        "malformed-assignee",
        assign(OPEN, "hospital:RC9"),
        InvalidCommand,
        "assigned_to: 'hospital:RC9' must be ccg:<code>, trust:<ODS code> or third-party",
    ),
    (
        "reported-twice",
        report(OPEN, specimen_date="2013-12-01"),
        RuleViolation,
        "case_id: case 'MRSA-1' was already reported in qp-2013-14-pir (against 06P, "
        "specimen 2013-10-02 at RC9); a case is reported once",
    ),
    (
        "withdrawn-case-reassigned",
        assign(WITHDRAWN, "trust:RC9"),
        RuleViolation,
        "case_id: case 'MRSA-W' was withdrawn; it cannot be assigned",
    ),
    (
        "withdrawn-twice",
        cmd("hcai_case_withdrawn", case_id=WITHDRAWN),
        RuleViolation,
        "case_id: case 'MRSA-W' was withdrawn; it cannot be withdrawn again",
    ),
    (
        "another-ccg-than-reported",
        {**assign(OPEN, "trust:RC9"), "ccg": ASSIGNEE},
        RuleViolation,
        "ccg: case 'MRSA-1' was reported against 06P, not 06F; its commands name the CCG it "
        "was reported against",
    ),
    (
        "case-in-submitted-scheme",
        report("MRSA-2", scheme="qp-2013-14") | {"scheme": "qp-2013-14"},
        RuleViolation,
        "scheme: qp-2013-14 takes submitted case counts; HCAI cases are recorded in a scheme "
        "that counts them (qp-2013-14-pir)",
    ),
    (
        "mrsa-count-submitted-where-derived",
        cmd(
            "measure_submitted",
            measure="hcai",
            criterion="mrsa-cases",
            period="2013-14",
            value=0,
        ),
        RuleViolation,
        "criterion: hcai/mrsa-cases is counted from the mrsa cases assigned to the CCG in "
        "qp-2013-14-pir; it cannot be submitted (send hcai_case_reported and "
        "hcai_case_assigned)",
    ),
    (
        "other-organism",
        report("MRSA-2", organism="c-difficile"),
        InvalidCommand,
        'organism: "c-difficile" is not counted by qp-2013-14-pir',
    ),
    (
        "impossible-specimen-date",
        report("MRSA-2", specimen_date="2013-02-30"),
        InvalidCommand,
        'specimen_date: "2013-02-30" is not a date (YYYY-MM-DD)',
    ),
    (
        "malformed-case-id",
        report("MRSA 2"),
        InvalidCommand,
        'case_id: "MRSA 2" must be 1 to 64 letters, digits and . _ - '
        "(starting with a letter or digit)",
    ),
    (
        "case-id-with-a-slash",
        report("MRSA/2"),
        InvalidCommand,
        'case_id: "MRSA/2" must be 1 to 64 letters, digits and . _ - '
        "(starting with a letter or digit)",
    ),
    (
        "assignment-missing-pir-reference",
        {k: v for k, v in assign(OPEN, "trust:RC9").items() if k != "pir_reference"},
        InvalidCommand,
        "pir_reference: required field is missing",
    ),
]


@pytest.mark.parametrize(
    ("command", "error", "message"), [pytest.param(c, e, m, id=i) for i, c, e, m in CASES]
)
def test_refused_case_command_stores_nothing(
    ledger: QPLedger, command: dict[str, Any], error: type[LedgerError], message: str
) -> None:
    seed(ledger)
    before = state(ledger)
    with pytest.raises(LedgerError) as caught:
        ledger.execute(command, actor="test:refused")
    assert type(caught.value) is error
    assert caught.value.message == message
    assert state(ledger) == before


def test_refused_case_lines_in_an_import_store_nothing(ledger: QPLedger) -> None:
    seed(ledger)
    before = state(ledger)
    lines = [json.dumps(c) for _, c, _, _ in CASES]
    report_ = ledger.import_lines(lines, actor="test:import")
    assert (report_.stored, report_.rejected) == (0, len(CASES))
    got = [(e["line"], e["code"], e["message"]) for e in report_.errors]
    assert got == [(i, e.code, m) for i, (_, _, e, m) in enumerate(CASES, start=1)]
    assert state(ledger) == before


def test_a_case_command_cannot_be_conditional_on_one_record(ledger: QPLedger) -> None:
    seed(ledger)
    before = state(ledger)
    with pytest.raises(InvalidCommand, match=r"^If-Match: a case command may change"):
        ledger.execute(assign(OPEN, "trust:RC9"), expected_version=3)
    assert state(ledger) == before


def test_valid_case_lines_between_other_lines_are_imported_in_order(ledger: QPLedger) -> None:
    """Case lines go in one by one; the lines around them still go in batches."""
    lines = [
        json.dumps(cmd("population_recorded", ASSIGNEE, population=449_953, source="ONS")),
        json.dumps(report("MRSA-9")),
        json.dumps(assign("MRSA-9", f"ccg:{ASSIGNEE}")),
        json.dumps(cmd("population_recorded", ASSIGNEE, population=450_000, source="ONS")),
        json.dumps(assign("MRSA-9", "third-party")),
    ]
    result = ledger.import_lines(lines, actor="test:import", batch_size=2)
    assert (result.stored, result.rejected) == (5, 0)
    types = [e["type"] for e in ledger.history(ASSIGNEE, SCHEME)]
    assert types == [
        "record_opened",
        "population_recorded",
        "hcai_case_attributed",
        "population_recorded",
        "hcai_case_attribution_ended",
    ]
    assert ledger.decision(ASSIGNEE, SCHEME).document["population"] == 450_000
