"""Commands and a hand-moved clock for the service's unit tests."""

from __future__ import annotations

from typing import Any

SCHEME = "qp-2013-14"
CASES = "qp-2013-14-pir"
YEAR = "2013-14"
#: 2013-09-24T05:20:00Z, in microseconds: inside the scheme year, long past.
START_US = 1_380_000_000_000_000
SECOND = 1_000_000


class Clock:
    """The ledger's clock (microseconds), moved by hand."""

    def __init__(self, start: int = START_US) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def cmd(kind: str, ccg: str = "06F", scheme: str = SCHEME, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": scheme, **fields}


def population(ccg: str = "06F", size: int = 449_953) -> dict[str, Any]:
    return cmd("population_recorded", ccg, population=size, source="ONS")


def flag(ccg: str = "06F", flag_id: str = "F1") -> dict[str, Any]:
    return cmd("quality_failure_flagged", ccg, flag_id=flag_id, description="CQC warning")


def report(case_id: str, ccg: str = "06P") -> dict[str, Any]:
    fields = {"organism": "mrsa", "specimen_date": "2013-10-02", "trust": "RC9"}
    return cmd("hcai_case_reported", ccg, CASES, case_id=case_id, **fields)


def assign(case_id: str, to: str, ccg: str = "06P") -> dict[str, Any]:
    fields = {"assigned_by": "PIR lead", "pir_reference": "PIR-1"}
    return cmd("hcai_case_assigned", ccg, CASES, case_id=case_id, assigned_to=to, **fields)
