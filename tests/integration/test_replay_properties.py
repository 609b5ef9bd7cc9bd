"""Property tests of point-in-time replay, on SQLite and PostgreSQL.

Hypothesis writes random *valid* years for 1-3 CCGs (interleaved), keeping an
independent model of the facts, and checks after every command and at the end:

* the decision at position P ignores everything after P: replaying P after
  later events gives the document issued when P was the head (when the ledger
  held only the first P events), digest included; and a second ledger that is
  given only those commands decides the same;
* replaying twice gives the same document and digest;
* appending never changes a decision at an earlier position, at *any* earlier
  position (including ones that belong to other CCGs' events);
* payable is within 0..maximum and equals the contract's formula computed from
  the model (docs/contract.md "Scheme").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ledgerkit import Ledgers, fresh_ledger_examples

SCHEME = "qp-2013-14"
YEAR = "2013-14"
CCG_POOL = {"06F": 449_953, "00C": 106_303, "00D": 287_987}

SHARES = {
    "pyll": Decimal("0.125"),
    "avoidable-emergency-admissions": Decimal("0.25"),
    "friends-and-family": Decimal("0.125"),
    "hcai": Decimal("0.125"),
    "local-1": Decimal("0.125"),
    "local-2": Decimal("0.125"),
    "local-3": Decimal("0.125"),
}
#: measure -> [(criterion, direction, fixed target or None)] for the national measures
NATIONAL = {
    "pyll": [("pyll-rate", "lower", None)],
    "avoidable-emergency-admissions": [("admissions-rate", "lower", None)],
    "friends-and-family": [("rollout", "higher", Decimal(1)), ("experience-score", "higher", None)],
    "hcai": [("mrsa-cases", "lower", Decimal(0)), ("cdiff-cases", "lower", None)],
}
LOCAL_SLOTS = ("local-1", "local-2", "local-3")
STANDARDS = {
    "rtt-18-weeks": Decimal("0.92"),
    "ae-4-hours": Decimal("0.95"),
    "cancer-2-week-wait": Decimal("0.93"),
    "ambulance-cat-a-8-min": Decimal("0.75"),
}

SETTINGS = fresh_ledger_examples(15)


# -- an independent model of one CCG's facts -------------------------------------


@dataclass
class Model:
    population: int | None = None
    local: dict[str, tuple[str, str]] = field(default_factory=dict)
    targets: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    values: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    standards: dict[str, Decimal] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    outturn: str | None = None

    def criteria(self, measure: str) -> list[tuple[str, str, Decimal | None]]:
        if measure in NATIONAL:
            return NATIONAL[measure]
        if measure in self.local:
            criterion, direction = self.local[measure]
            return [(criterion, direction, None)]
        return []

    def met(self, measure: str) -> bool | None:
        results = []
        for criterion, direction, fixed in self.criteria(measure):
            value = self.values.get((measure, criterion))
            target = fixed if fixed is not None else self.targets.get((measure, criterion))
            if value is None or target is None:
                return None
            results.append(value <= target if direction == "lower" else value >= target)
        return all(results) if results else None

    def expected(self) -> tuple[int, int, str]:
        """(maximum, payable, status) by docs/contract.md's formula, worked independently."""
        maximum = 500 * self.population if self.population else 0
        share = sum((SHARES[m] for m in SHARES if self.met(m)), Decimal(0))
        missed = sum(1 for s, v in self.standards.items() if v < STANDARDS[s])
        factor = max(Decimal(0), 1 - Decimal("0.25") * missed)
        closed = any(self.flags.values()) or self.outturn == "overspend"
        payable = (
            0
            if closed
            else int((maximum * share * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        )
        final = (
            self.population is not None
            and all(self.met(m) is not None for m in SHARES)
            and self.outturn is not None
            and len(self.standards) == len(STANDARDS)
        )
        return maximum, payable, "final" if final else "provisional"


#: How a typical year starts (population, agreements and values for the two
#: single-criterion national measures, two constitution standards); drawn for most
#: CCGs so that money is often earned and reduced.
TYPICAL_START = [
    ("population", None),
    ("threshold", ("pyll", "pyll-rate")),
    ("value", ("pyll", "pyll-rate")),
    ("threshold", ("avoidable-emergency-admissions", "admissions-rate")),
    ("value", ("avoidable-emergency-admissions", "admissions-rate")),
    ("standard", None),
    ("standard", None),
]


def random_command(
    data: st.DataObject,
    ccg: str,
    model: Model,
    flag_ids: Iterator[int],
    plan: list[tuple[str, tuple[str, str] | None]],
) -> dict[str, Any]:
    """Draw one valid command for the CCG given what its record already holds (the next
    step of its plan, if any), and apply it to the model."""
    if plan:
        kind, subject = plan.pop(0)
    else:
        kind, subject = random_kind(data, model), None
    return command_of_kind(data, kind, subject, ccg, model, flag_ids)


def random_kind(data: st.DataObject, model: Model) -> str:
    # Weighted towards the facts that earn money, so that payable > 0, deductions
    # and gates closing and reopening are all common.
    kinds = [
        "population",
        "local",
        "threshold",
        "threshold",
        "value",
        "value",
        "value",
        "standard",
        "standard",
        "flag",
        "financial",
    ]
    if model.population is None:
        kinds += ["population"] * 3
    if any(model.flags.values()):
        kinds += ["rescind"] * 2
    return data.draw(st.sampled_from(kinds), label="kind")


def command_of_kind(
    data: st.DataObject,
    kind: str,
    subject: tuple[str, str] | None,
    ccg: str,
    model: Model,
    flag_ids: Iterator[int],
) -> dict[str, Any]:
    base = {"ccg": ccg, "scheme": SCHEME}
    if kind == "population":
        size = data.draw(st.sampled_from([CCG_POOL[ccg], 1, 3, 99_999]), label="population")
        model.population = size
        return {**base, "type": "population_recorded", "population": size, "source": "ONS"}
    if kind == "local":
        chosen = {
            slot: (
                data.draw(st.sampled_from(["rate-a", "rate-b"]), label=slot),
                data.draw(st.sampled_from(["lower", "higher"]), label=slot),
            )
            for slot in LOCAL_SLOTS
        }
        model.local = chosen
        return {
            **base,
            "type": "local_measures_selected",
            "measures": [
                {"slot": slot, "name": f"{slot} {c}", "criterion": c, "direction": d}
                for slot, (c, d) in chosen.items()
            ],
        }
    favoured = [("pyll", "pyll-rate"), ("avoidable-emergency-admissions", "admissions-rate")]
    agreed = [(m, c) for m, cs in NATIONAL.items() for c, _, fixed in cs if fixed is None]
    agreed += favoured * 3
    agreed += [(slot, c) for slot, (c, _) in model.local.items()]
    if kind == "threshold":
        measure, criterion = subject or data.draw(st.sampled_from(agreed), label="threshold")
        target = Decimal(data.draw(st.integers(1, 3), label="target"))
        model.targets[(measure, criterion)] = target
        return {
            **base,
            "type": "threshold_agreed",
            "measure": measure,
            "criterion": criterion,
            "baseline": target + 1,
            "target": target,
        }
    if kind == "value":
        any_criterion = [(m, c) for m, cs in NATIONAL.items() for c, _, _ in cs]
        any_criterion += [(slot, c) for slot, (c, _) in model.local.items()]
        any_criterion += favoured * 3
        measure, criterion = subject or data.draw(st.sampled_from(any_criterion), label="value for")
        value = Decimal(data.draw(st.integers(0, 3), label="value"))
        periods = [YEAR] if subject else [YEAR, YEAR, YEAR, f"{YEAR}-Q3"]
        period = data.draw(st.sampled_from(periods), label="period")
        if period == YEAR:
            model.values[(measure, criterion)] = value
        return {
            **base,
            "type": "measure_submitted",
            "measure": measure,
            "criterion": criterion,
            "period": period,
            "value": value,
        }
    if kind == "standard":
        standard = data.draw(st.sampled_from(sorted(STANDARDS)), label="standard")
        value = Decimal(
            data.draw(
                st.sampled_from(["0.5", "0.74", "0.75", "0.92", "0.93", "0.95", "1"]),
                label="fraction",
            )
        )
        model.standards[standard] = value
        return {
            **base,
            "type": "constitution_standard_submitted",
            "standard": standard,
            "period": YEAR,
            "value": value,
        }
    if kind == "flag":
        flag_id = f"QF-{next(flag_ids)}"
        model.flags[flag_id] = True
        return {
            **base,
            "type": "quality_failure_flagged",
            "flag_id": flag_id,
            "description": "serious quality failure",
        }
    if kind == "rescind":
        flag_id = data.draw(
            st.sampled_from(sorted(f for f, a in model.flags.items() if a)), label="rescind"
        )
        model.flags[flag_id] = False
        return {**base, "type": "quality_failure_rescinded", "flag_id": flag_id}
    outturn = data.draw(st.sampled_from(["balanced"] * 3 + ["overspend"]), label="outturn")
    model.outturn = outturn
    return {
        **base,
        "type": "financial_position_declared",
        "outturn": outturn,
        "amount_pence": data.draw(st.integers(0, 10**9), label="amount"),
    }


# -- a fresh, empty ledger per example -----------------------------------------------


def strip_time(doc: dict[str, Any]) -> dict[str, Any]:
    """The parts of a document that depend only on the facts' content.

    ``log`` names the Merkle tree at the document's position, so it moves with
    the position even when the facts do not.
    """
    return {k: v for k, v in doc.items() if k not in {"as_of", "position", "inputs_digest", "log"}}


@pytest.fixture
def ledgers(database_url: str) -> Ledgers:
    return Ledgers(database_url)


@SETTINGS
@given(data=st.data())
def test_a_decision_at_p_is_what_was_known_at_p(ledgers: Ledgers, data: st.DataObject) -> None:
    ccgs = data.draw(
        st.lists(st.sampled_from(sorted(CCG_POOL)), min_size=1, max_size=3, unique=True),
        label="ccgs",
    )
    n = data.draw(st.integers(1, 16), label="commands")
    models = {c: Model() for c in ccgs}
    flag_ids = count(1)
    plans = {
        c: list(TYPICAL_START) if data.draw(st.integers(0, 3), label=f"{c} typical") else []
        for c in ccgs
    }
    commands: list[dict[str, Any]] = []
    #: log position -> {ccg: the document issued then (the log's head was that position)}
    issued: dict[int, dict[str, dict[str, Any]]] = {}
    recorded: dict[int, str] = {}

    ledger = ledgers.fresh()
    try:
        issued[0] = {c: ledger.decision(c, SCHEME).document for c in ccgs}
        for _ in range(n):
            ccg = data.draw(st.sampled_from(ccgs), label="ccg")
            command = random_command(data, ccg, models[ccg], flag_ids, plans[ccg])
            commands.append(command)
            receipt = ledger.execute(command, actor="hypothesis")
            assert receipt.position == ledger.max_position()
            recorded[receipt.position] = receipt.recorded_at
            issued[receipt.position] = {}
            for c in ccgs:
                doc = ledger.decision(c, SCHEME).document
                maximum, payable, status = models[c].expected()
                assert (doc["maximum_pence"], doc["payable_pence"], doc["status"]) == (
                    maximum,
                    payable,
                    status,
                ), (c, commands)
                assert 0 <= doc["payable_pence"] <= doc["earned_pence"] <= doc["maximum_pence"]
                issued[receipt.position][c] = doc

        head = ledger.max_position()
        receipts = sorted(issued)
        for position in range(head + 1):
            # the last acknowledged position at or before this one: no fact of any CCG
            # lies strictly between them (only a record being opened can).
            known = max(p for p in receipts if p <= position)
            for c in ccgs:
                replay = ledger.decision(c, SCHEME, position=position).document
                assert replay["position"] == position
                if position == known:
                    assert replay == issued[known][c]
                else:
                    assert strip_time(replay) == strip_time(issued[known][c])
                    assert replay["inputs_digest"] == issued[known][c]["inputs_digest"]
        # Replaying twice gives the same document and digest.
        for c in ccgs:
            assert ledger.decision(c, SCHEME, position=head).document == issued[head][c]
        for position, at in recorded.items():
            c = data.draw(st.sampled_from(ccgs), label="as_of ccg")
            assert ledger.decision(c, SCHEME, as_of=at).document == issued[position][c]
    finally:
        ledger.close()

    # A ledger that only ever saw the first k commands decides as the full one did at P_k.
    k = data.draw(st.integers(0, n), label="prefix")
    prefix_head = receipts[k]
    prefix = ledgers.fresh()
    try:
        for command in commands[:k]:
            prefix.execute(command, actor="hypothesis")
        assert prefix.max_position() == prefix_head
        for c in ccgs:
            alone = prefix.decision(c, SCHEME).document
            assert alone["position"] == prefix_head
            assert strip_time(alone) == strip_time(issued[prefix_head][c])
    finally:
        prefix.close()
