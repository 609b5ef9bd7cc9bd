"""MRSA counted from case events (issue 14): the scheme variant and the engine, on hand-built facts.

The scheme ``qp-2013-14-pir`` is ``qp-2013-14`` with ``hcai/mrsa-cases``
derived from case events; the original scheme, its digest and every decision
made under it must not move.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.domain.errors import SchemeDefinitionError
from ledger.domain.facts import CaseFact, EventRef, Facts, PopulationFact, ThresholdFact, ValueFact
from ledger.domain.scheme import get_scheme, parse_scheme
from ledger.engine.decide import decide

ROOT = Path(__file__).resolve().parents[2]
PIR = get_scheme("qp-2013-14-pir")
QP13 = get_scheme("qp-2013-14")


def ref(position: int, kind: str) -> EventRef:
    return EventRef(f"e{position}", position, kind, f"2014-04-01T00:00:{position:02d}Z")


def case(
    case_id: str, date: str = "2013-11-05", *, active: bool = True, organism: str = "mrsa"
) -> CaseFact:
    events = (ref(10 + len(case_id), "hcai_case_attributed"),)
    if not active:
        events += (ref(20 + len(case_id), "hcai_case_attribution_ended"),)
    return CaseFact(
        case_id=case_id,
        organism=organism,
        specimen_date=date,
        trust="RC9",
        responsible_ccg="06P",
        assigned_by="PIR lead",
        pir_reference=f"PIR-{case_id}",
        active=active,
        now=None if active else "trust:RC9",
        now_assigned_by=None if active else "arbitration panel",
        now_pir_reference=None if active else f"PIR-{case_id}-A",
        case_event=f"case-event-{case_id}",
        events=events,
    )


def facts(scheme: str, *cases: CaseFact) -> Facts:
    """06P with HCAI's C. difficile criterion met, so MRSA alone decides HCAI."""
    return Facts(
        ccg="06P",
        scheme=scheme,
        position=99,
        as_of=None,
        population=PopulationFact(200_000, "ONS", ref(1, "population_recorded")),
        thresholds={
            "hcai/cdiff-cases": ThresholdFact(
                "hcai", "cdiff-cases", Decimal(40), Decimal(35), ref(2, "threshold_agreed")
            )
        },
        values={
            "hcai/cdiff-cases/2013-14": ValueFact(
                "hcai/cdiff-cases/2013-14", "2013-14", Decimal(30), ref(3, "measure_submitted")
            )
        },
        cases=cases,
    )


def hcai(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["components"] if c["measure"] == "hcai")


def mrsa(document: dict[str, Any]) -> dict[str, Any]:
    return hcai(document)["criteria"][0]


def test_the_variant_differs_from_qp_2013_14_only_in_how_mrsa_is_counted() -> None:
    original = json.loads((ROOT / "ledger/schemes/qp-2013-14.json").read_text())
    variant = json.loads((ROOT / "ledger/schemes/qp-2013-14-pir.json").read_text())
    mrsa_criterion = variant["measures"][3]["criteria"][0]
    assert mrsa_criterion.pop("value") == {"from": "cases", "organism": "mrsa"}
    for key in ("id", "title", "source"):
        variant.pop(key), original.pop(key)
    assert variant == original
    assert QP13.case_organisms == () and PIR.case_organisms == ("mrsa",)
    assert all(c.derived_from_cases is None for m in QP13.measures for c in m.criteria)


def test_no_case_assigned_meets_zero_tolerance() -> None:
    document = decide(PIR, facts(PIR.id)).document
    line = mrsa(document)
    assert (line["value"], line["met"], line["cases"], line["events"]) == (0, True, [], [])
    assert hcai(document)["met"] is True
    # 500 p x 200,000 x 0.125
    assert document["payable_pence"] == 12_500_000


def test_one_case_assigned_in_the_year_loses_the_whole_hcai_share() -> None:
    document = decide(PIR, facts(PIR.id, case("A"))).document
    line = mrsa(document)
    assert (line["value"], line["met"], line["value_source"]) == (1, False, "cases")
    assert hcai(document)["met"] is False and document["payable_pence"] == 0
    (shown,) = line["cases"]
    assert shown["case_id"] == "A" and shown["counted"] is True
    assert shown["case_event"] == "case-event-A"
    assert line["events"] == [{"id": "e11", "position": 11, "type": "hcai_case_attributed"}]


@pytest.mark.parametrize(
    ("date", "counted"),
    [
        ("2013-04-01", True),
        ("2014-03-31", True),
        ("2013-03-31", False),
        ("2014-04-01", False),
    ],
)
def test_only_cases_specimen_dated_in_the_scheme_year_count(date: str, counted: bool) -> None:
    line = mrsa(decide(PIR, facts(PIR.id, case("A", date))).document)
    assert line["value"] == int(counted)
    assert len(line["cases"]) == int(counted)


def test_a_case_reassigned_away_is_listed_but_not_counted_with_the_events_that_moved_it() -> None:
    line = mrsa(decide(PIR, facts(PIR.id, case("A", active=False), case("BB"))).document)
    assert line["value"] == 1
    moved, kept = line["cases"]
    assert (moved["counted"], moved["now_assigned_to"]) == (False, "trust:RC9")
    assert (moved["now_assigned_by"], moved["now_pir_reference"]) == (
        "arbitration panel",
        "PIR-A-A",
    )
    assert (kept["now_assigned_by"], kept["now_pir_reference"]) == (None, None)
    assert [e["type"] for e in moved["events"]] == [
        "hcai_case_attributed",
        "hcai_case_attribution_ended",
    ]
    assert kept["counted"] is True
    assert [e["position"] for e in line["events"]] == [11, 12, 21]


def test_facts_without_cases_keep_their_digest() -> None:
    """Cases enter the canonical facts only when there are some: old digests never move."""
    canonical = facts(QP13.id).canonical()
    assert "cases" not in canonical
    assert "cases" in facts(PIR.id, case("A")).canonical()
    assert (
        decide(PIR, facts(PIR.id, case("A"))).inputs_digest
        != decide(PIR, facts(PIR.id, case("A", active=False))).inputs_digest
    )


def test_qp_2013_14_ignores_case_facts_and_reads_the_submitted_value() -> None:
    document = decide(QP13, facts(QP13.id)).document
    line = mrsa(document)
    assert (line["value"], line["met"]) == (None, None)
    assert "cases" not in line and "value_source" not in line


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"from": "reports", "organism": "mrsa"}, '.value: expected "submitted" or'),
        ({"from": "cases", "organism": "e-coli"}, ".value.organism: 'e-coli' is not one of"),
        ("derived", '.value: expected "submitted" or'),
    ],
)
def test_a_bad_value_source_is_refused_naming_the_field(value: Any, message: str) -> None:
    data = json.loads((ROOT / "ledger/schemes/qp-2013-14-pir.json").read_text())
    bad = copy.deepcopy(data)
    bad["measures"][3]["criteria"][0]["value"] = value
    with pytest.raises(SchemeDefinitionError, match=message.replace("(", r"\(")):
        parse_scheme(bad, source="pir.json")


def test_a_derived_count_needs_a_fixed_target_and_direction_lower() -> None:
    data = json.loads((ROOT / "ledger/schemes/qp-2013-14-pir.json").read_text())
    data["measures"][3]["criteria"][0]["target"] = "agreed"
    with pytest.raises(SchemeDefinitionError, match="needs direction lower and a fixed target"):
        parse_scheme(data, source="pir.json")
