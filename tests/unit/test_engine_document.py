"""The decision document, every field and key, on a scheme built for the test.

The shipped schemes have only "higher is better" constitution standards, so a
scheme here adds a "lower is better" one (cancelled operations) beside a
"higher" one. The whole document is written out by hand — key names, the
period on every line, the deduction's value, the component's name,
``met_share`` — so renaming or dropping any field fails a test, and the
``inputs_digest`` is recomputed from its documented encoding
(docs/decision-rules.md, "Digest": SHA-256 of the canonical JSON — sorted
keys, no spaces, decimals as strings — of the scheme digest and the facts),
with the canonical text spelled out rather than produced by ``json.dumps``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.errors import UnknownEngine
from ledger.domain.facts import (
    CaseFact,
    EventRef,
    Facts,
    FinancialFact,
    LocalMeasureFact,
    PopulationFact,
    ThresholdFact,
    ValueFact,
)
from ledger.domain.scheme import get_scheme, parse_scheme
from ledger.engine.decide import ENGINE_VERSION, ENGINES, decide, decide_with_engine, plain_decimal

D = Decimal

TEST_SCHEME = parse_scheme(
    {
        "id": "qp-test-lower",
        "title": "Test scheme: one lower-is-better constitution standard",
        "source": "tests/unit/test_engine_document.py",
        "year": "2013-14",
        "assessment_period": "2013-14",
        "pence_per_head": 500,
        "appeal_window_days": 30,
        "measures": [
            {
                "id": "waits",
                "name": "Waiting times",
                "share": "0.75",
                "criteria": [{"id": "median-wait", "direction": "lower", "target": "agreed"}],
            },
            {"id": "local-1", "name": "Local measure 1", "share": "0.25", "local": True},
        ],
        "constitution": {
            "reduction_per_standard": "0.25",
            "standards": [
                {
                    "id": "cancelled-ops",
                    "name": "Cancelled operations not rebooked within 28 days",
                    "direction": "lower",
                    "threshold": "0.05",
                },
                {
                    "id": "ae-4-hours",
                    "name": "A&E: four hours",
                    "direction": "higher",
                    "threshold": "0.95",
                },
            ],
        },
    },
    source="test",
)
YEAR = "2013-14"


def ref(position: int, kind: str) -> EventRef:
    return EventRef(f"e{position}", position, kind, f"2014-04-01T00:00:0{position}+00:00")


E = {
    n: ref(n, kind)
    for n, kind in enumerate(
        [
            "PopulationRecorded",
            "LocalMeasuresSelected",
            "ThresholdAgreed",
            "ThresholdAgreed",
            "MeasureSubmitted",
            "MeasureSubmitted",
            "ConstitutionStandardSubmitted",
            "ConstitutionStandardSubmitted",
            "FinancialPositionDeclared",
        ],
        start=1,
    )
}


def listed(*positions: int) -> list[dict[str, Any]]:
    return [{"id": f"e{p}", "position": p, "type": E[p].type} for p in positions]


def facts(cancelled_ops: str = "0.04") -> Facts:
    """Waiting times met, the local measure missed, cancelled operations as given, A&E missed."""
    return Facts(
        ccg="06F",
        scheme=TEST_SCHEME.id,
        position=9,
        as_of="2014-06-30T12:00:00+00:00",
        # Not ASCII, so the digest depends on the text being hashed as UTF-8, unescaped.
        population=PopulationFact(1000, "ONS — mid-2012", E[1]),
        local_measures={
            "local-1": LocalMeasureFact(
                "local-1", "Dementia diagnosis", "dementia-dx", "higher", E[2]
            )
        },
        thresholds={
            "waits/median-wait": ThresholdFact("waits", "median-wait", D("20"), D("18"), E[3]),
            "local-1/dementia-dx": ThresholdFact(
                "local-1", "dementia-dx", D("0.5"), D("0.6"), E[4]
            ),
        },
        values={
            f"waits/median-wait/{YEAR}": ValueFact(
                f"waits/median-wait/{YEAR}", YEAR, D("17.5"), E[5]
            ),
            f"local-1/dementia-dx/{YEAR}": ValueFact(
                f"local-1/dementia-dx/{YEAR}", YEAR, D("0.55"), E[6]
            ),
        },
        standards={
            f"cancelled-ops/{YEAR}": ValueFact(
                f"cancelled-ops/{YEAR}", YEAR, D(cancelled_ops), E[7]
            ),
            f"ae-4-hours/{YEAR}": ValueFact(f"ae-4-hours/{YEAR}", YEAR, D("0.93"), E[8]),
        },
        financial=FinancialFact("balanced", 0, E[9]),
    )


def canonical_ref(n: int) -> str:
    return f'["e{n}",{n},"{E[n].type}","2014-04-01T00:00:0{n}+00:00"]'


#: The canonical JSON of ``facts()``, written out: keys sorted at every level,
#: "," and ":" with no spaces, decimals as strings, non-ASCII text as itself.
CANONICAL = (
    '{"facts":{"ccg":"06F",'
    f'"financial":["balanced",0,{canonical_ref(9)}],'
    '"flags":{},'
    '"local_measures":{"local-1":["Dementia diagnosis","dementia-dx","higher",'
    f'{canonical_ref(2)}]}},'
    f'"population":[1000,"ONS — mid-2012",{canonical_ref(1)}],'
    '"scheme":"qp-test-lower",'
    f'"standards":{{"ae-4-hours/2013-14":["0.93",{canonical_ref(8)}],'
    f'"cancelled-ops/2013-14":["0.04",{canonical_ref(7)}]}},'
    f'"thresholds":{{"local-1/dementia-dx":["0.5","0.6",{canonical_ref(4)}],'
    f'"waits/median-wait":["20","18",{canonical_ref(3)}]}},'
    f'"values":{{"local-1/dementia-dx/2013-14":["0.55",{canonical_ref(6)}],'
    f'"waits/median-wait/2013-14":["17.5",{canonical_ref(5)}]}}}},'
    f'"scheme":"{TEST_SCHEME.digest}"}}'
)  # fmt: skip


def test_the_whole_document_field_by_field() -> None:
    document = decide(TEST_SCHEME, facts()).document
    digest = "sha256:" + hashlib.sha256(CANONICAL.encode("utf-8")).hexdigest()
    assert document == {
        "ccg": "06F",
        "scheme": "qp-test-lower",
        "as_of": "2014-06-30T12:00:00+00:00",
        "position": 9,
        "status": "final",
        "population": 1000,
        "population_events": listed(1),
        "maximum_pence": 500_000,
        "gates": [
            {"gate": "quality-failure", "open": True, "active_flags": [], "events": []},
            {
                "gate": "financial-balance",
                "open": True,
                "outturn": "balanced",
                "amount_pence": 0,
                "events": listed(9),
            },
        ],
        "components": [
            {
                "measure": "waits",
                "name": "Waiting times",
                "share": "0.75",
                "met": True,
                "earned_pence": 375_000,
                "criteria": [
                    {
                        "criterion": "median-wait",
                        "direction": "lower",
                        "period": "2013-14",
                        "value": 17.5,
                        "target": 18,
                        "target_source": "agreed",
                        "baseline": 20,
                        "met": True,
                        "events": listed(3, 5),
                    }
                ],
            },
            {
                "measure": "local-1",
                "name": "Local measure 1",
                "share": "0.25",
                "met": False,
                "earned_pence": 0,
                "criteria": [
                    {
                        "criterion": "dementia-dx",
                        "direction": "higher",
                        "period": "2013-14",
                        "value": 0.55,
                        "target": 0.6,
                        "target_source": "agreed",
                        "baseline": 0.5,
                        "met": False,
                        "events": listed(4, 6),
                    }
                ],
                "local_name": "Dementia diagnosis",
                "events": listed(2),
            },
        ],
        "deductions": [
            {
                "standard": "cancelled-ops",
                "period": "2013-14",
                "value": 0.04,
                "threshold": 0.05,
                "met": True,
                "reduction": "0",
                "events": listed(7),
            },
            {
                "standard": "ae-4-hours",
                "period": "2013-14",
                "value": 0.93,
                "threshold": 0.95,
                "met": False,
                "reduction": "0.25",
                "events": listed(8),
            },
        ],
        "met_share": "0.75",
        "deduction_factor": "0.75",
        "earned_pence": 375_000,
        # 500,000 x 0.75 met x (1 - 0.25 x one standard missed)
        "payable_pence": 281_250,
        "engine_version": ENGINE_VERSION,
        "inputs_digest": digest,
    }


@pytest.mark.parametrize(
    ("value", "met", "payable"),
    [
        ("0", True, 281_250),
        ("0.04", True, 281_250),
        ("0.05", True, 281_250),  # at the threshold: met, as for "higher"
        ("0.0501", False, 187_500),  # a second standard missed: 1 - 2 x 0.25
        ("1", False, 187_500),
    ],
)
def test_a_lower_is_better_standard_is_met_at_or_below_its_threshold(
    value: str, met: bool, payable: int
) -> None:
    document = decide(TEST_SCHEME, facts(cancelled_ops=value)).document
    cancelled = document["deductions"][0]
    assert (cancelled["standard"], cancelled["met"]) == ("cancelled-ops", met)
    assert cancelled["reduction"] == ("0" if met else "0.25")
    assert document["payable_pence"] == payable


def test_the_digest_changes_with_any_fact_and_only_with_the_facts() -> None:
    base = decide(TEST_SCHEME, facts()).document["inputs_digest"]
    later = Facts(**{**facts().__dict__, "position": 12, "as_of": "2015-01-01T00:00:00+00:00"})
    assert decide(TEST_SCHEME, later).document["inputs_digest"] == base
    assert decide(TEST_SCHEME, facts(cancelled_ops="0.040")).document["inputs_digest"] != base


def test_decide_with_engine_runs_the_named_engine() -> None:
    assert {ENGINE_VERSION: decide} == ENGINES
    assert decide_with_engine(ENGINE_VERSION, TEST_SCHEME, facts()) == decide(TEST_SCHEME, facts())


def test_decide_with_engine_refuses_an_engine_it_does_not_have() -> None:
    with pytest.raises(UnknownEngine) as caught:
        decide_with_engine("qp-engine/0.9", TEST_SCHEME, facts())
    error = caught.value
    assert error.message == "engine_version: 'qp-engine/0.9' is not available"
    assert error.field == "engine_version"
    assert error.allowed == [ENGINE_VERSION]
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("1"), "1"),
        (D("1.000"), "1"),
        (D("0.750"), "0.75"),
        (D("0"), "0"),
        (D("0E-7"), "0"),
        (D("100"), "100"),  # not 1E+2
        (D("0.0000001"), "0.0000001"),  # not 1E-7
    ],
)
def test_shares_and_factors_are_written_as_plain_decimals(value: Decimal, text: str) -> None:
    assert plain_decimal(value) == text


# --------------------------------------------------------------------------- counted cases

PIR = get_scheme("qp-2013-14-pir")


def case(case_id: str, *, active: bool, stale: bool = False) -> CaseFact:
    """A case; ``stale`` gives an active case leftovers of an ended attribution."""
    moved = not active or stale
    return CaseFact(
        case_id=case_id,
        organism="mrsa",
        specimen_date="2013-11-05",
        trust="RC9",
        responsible_ccg="06P",
        assigned_by="PIR lead",
        pir_reference=f"PIR-{case_id}",
        active=active,
        now="trust:RC9" if moved else None,
        now_assigned_by="arbitration panel" if moved else None,
        now_pir_reference=f"PIR-{case_id}-A" if moved else None,
        case_event=f"case-event-{case_id}",
        events=(ref(3, "HCAICaseAttributed"),)
        + (() if active else (ref(4, "HCAICaseAttributionEnded"),)),
    )


def test_a_line_counted_from_cases_field_by_field() -> None:
    cases = (case("A", active=True, stale=True), case("B", active=False))
    facts = Facts(ccg="06P", scheme=PIR.id, position=9, as_of=None, cases=cases)
    (hcai,) = [c for c in decide(PIR, facts).document["components"] if c["measure"] == "hcai"]
    events = [
        {"id": "e3", "position": 3, "type": "HCAICaseAttributed"},
        {"id": "e4", "position": 4, "type": "HCAICaseAttributionEnded"},
    ]
    listed_case = {
        "organism": "mrsa",
        "specimen_date": "2013-11-05",
        "trust": "RC9",
        "responsible_ccg": "06P",
        "assigned_by": "PIR lead",
    }
    assert hcai["criteria"][0] == {
        "criterion": "mrsa-cases",
        "direction": "lower",
        "period": "2013-14",
        "value": 1,
        "value_source": "cases",
        "target": 0,
        "target_source": "fixed",
        "baseline": None,
        "met": False,
        "cases": [
            {
                "case_id": "A",
                **listed_case,
                "pir_reference": "PIR-A",
                "counted": True,
                # An active case is where it is: nothing else is shown, whatever the facts carry.
                "now_assigned_to": None,
                "now_assigned_by": None,
                "now_pir_reference": None,
                "case_event": "case-event-A",
                "events": events[:1],
            },
            {
                "case_id": "B",
                **listed_case,
                "pir_reference": "PIR-B",
                "counted": False,
                "now_assigned_to": "trust:RC9",
                "now_assigned_by": "arbitration panel",
                "now_pir_reference": "PIR-B-A",
                "case_event": "case-event-B",
                "events": events,
            },
        ],
        "events": events,
    }
