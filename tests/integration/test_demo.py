"""The demo year: valid commands, deterministic, and about a third of the pot paid."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from ledger.demo.year import demo_commands
from ledger.domain.ccgs import ccgs
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"


def as_lines(commands: list[dict[str, Any]]) -> list[str]:
    # The same serialisation the ``qp-ledger demo`` command uses.
    return [json.dumps(c, default=str) for c in commands]


def test_same_seed_same_year_and_other_seed_other_year() -> None:
    first = demo_commands(seed=2013)
    assert first == demo_commands(seed=2013)
    assert as_lines(first) == as_lines(demo_commands(seed=2013))
    assert first != demo_commands(seed=2014)


def test_the_year_is_interleaved_by_month_and_limit_is_a_prefix_of_ccgs() -> None:
    everyone = demo_commands()
    first_five = list(ccgs())[:5]
    five = demo_commands(limit=5)
    assert {c["ccg"] for c in five} == set(first_five)
    # limit gives the same year for those CCGs as the full run
    assert five == [c for c in everyone if c["ccg"] in first_five]
    # every population is recorded before any CCG selects its local measures
    kinds = [c["type"] for c in everyone]
    assert kinds[: len(ccgs())] == ["population_recorded"] * len(ccgs())
    assert [c["ccg"] for c in everyone[: len(ccgs())]] == list(ccgs())
    assert kinds.index("financial_position_declared") > kinds.index("quality_failure_flagged")


def test_the_year_has_every_kind_of_fact_in_plausible_numbers() -> None:
    commands = demo_commands()
    n = len(ccgs())
    kinds = Counter(c["type"] for c in commands)
    assert kinds["population_recorded"] == n
    assert kinds["local_measures_selected"] == n
    assert kinds["financial_position_declared"] == n
    assert kinds["constitution_standard_submitted"] == 4 * n
    # 7 agreed criteria per CCG, ~15% revised
    assert 7 * n * 1.08 < kinds["threshold_agreed"] < 7 * n * 1.22
    # 9 criteria x (4 quarters + the year), plus ~10% late corrections
    assert 45 * n < kinds["measure_submitted"] < 45 * n + 9 * n * 0.15
    assert 0.02 * n <= kinds["quality_failure_flagged"] <= 0.09 * n
    assert 0 < kinds["quality_failure_rescinded"] < kinds["quality_failure_flagged"]
    overspends = [
        c for c in commands if c["type"] == "financial_position_declared"
        and c["outturn"] == "overspend"
    ]  # fmt: skip
    assert 0.04 * n <= len(overspends) <= 0.13 * n
    assert all(c["amount_pence"] > 0 for c in overspends)
    for c in commands:
        assert c["scheme"] == SCHEME
        assert c["actor"].split(":")[0] in {"ccg", "area-team", "board"}
        for key in ("value", "baseline", "target", "population", "amount_pence"):
            if key in c:  # plain JSON numbers, never strings or Decimals
                assert type(c[key]) in (int, float), c
                assert c[key] >= 0


@pytest.mark.slow
def test_the_full_demo_loads_cleanly_and_pays_about_a_third_of_the_pot(sqlite_url: str) -> None:
    ledger = QPLedger(sqlite_url)
    try:
        report = ledger.import_lines(as_lines(demo_commands(seed=2013)))
        assert report.rejected == 0, report.errors[:5]
        assert report.stored == len(demo_commands(seed=2013))
        maximum = payable = 0
        statuses: Counter[str] = Counter()
        for code in ccgs():
            document = ledger.decision(code, SCHEME).document
            statuses[document["status"]] += 1
            maximum += document["maximum_pence"]
            payable += document["payable_pence"]
    finally:
        ledger.close()
    assert statuses == {"final": len(ccgs())}
    assert 0.28 <= payable / maximum <= 0.40, payable / maximum


def test_a_small_demo_loads_on_each_backend(ledger: QPLedger) -> None:
    commands = demo_commands(limit=5)
    report = ledger.import_lines(as_lines(commands))
    assert (report.stored, report.rejected) == (len(commands), 0)
    assert report.last_position == ledger.max_position()
    for code in list(ccgs())[:5]:
        document = ledger.decision(code, SCHEME).document
        assert document["status"] == "final"
        assert 0 <= document["payable_pence"] <= document["maximum_pence"]
