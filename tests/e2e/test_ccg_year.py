"""User story: one CCG's Quality Premium year, and the auditor's replay of it.

NHS Bedfordshire (06F, registered population 449,953) goes through its
2013/14 year: population recorded, local measures chosen, thresholds agreed
(one revised), quarterly and annual values submitted, a late correction that
flips a criterion, a quality failure flagged and rescinded, a constitution
standard missed, the financial position declared. After every step the
receipt (log position, recorded time) is kept; at the end the decision is
replayed at each of those moments, by position and by recorded time, and must
be exactly what it was then.

Expected money is worked out by hand from docs/contract.md:
maximum = 500 p x 449,953 = 224,976,500 p; payable =
round_half_up(maximum x sum of met shares x max(0, 1 - 0.25 x standards missed)).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ledger.service.application import QPLedger, Receipt
from tests.ledgerkit import LOCAL_MEASURES

CCG = "06F"
SCHEME = "qp-2013-14"
YEAR = "2013-14"
MAXIMUM = 224_976_500  # 500 p x 449,953


def cmd(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": CCG, "scheme": SCHEME, **fields}


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def component(doc: dict[str, Any], measure: str) -> dict[str, Any]:
    return next(c for c in doc["components"] if c["measure"] == measure)


def criterion(doc: dict[str, Any], measure: str, name: str) -> dict[str, Any]:
    return next(c for c in component(doc, measure)["criteria"] if c["criterion"] == name)


def gate(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in doc["gates"] if g["gate"] == name)


def deduction(doc: dict[str, Any], standard: str) -> dict[str, Any]:
    return next(d for d in doc["deductions"] if d["standard"] == standard)


def ref(receipt: Receipt) -> dict[str, Any]:
    """How a decision names the event a receipt acknowledged."""
    return {"id": receipt.event_id, "position": receipt.position, "type": receipt.type}


def test_a_ccg_year_replayed_at_every_moment(ledger: QPLedger) -> None:
    moments: dict[str, tuple[Receipt, dict[str, Any]]] = {}

    def step(label: str, *commands: dict[str, Any], actor: str) -> Receipt:
        receipt = None
        for command in commands:
            receipt = ledger.execute(command, actor=actor)
        assert receipt is not None
        # The decision as it stood right then: the log held nothing later.
        moments[label] = (receipt, ledger.decision(CCG, SCHEME).document)
        return receipt

    # -- April 2013: the record is opened by the population --------------------
    population = step(
        "population",
        cmd("population_recorded", population=449_953, source="ONS registered list 2013/14"),
        actor="board:finance",
    )
    # The first command also opened the record: two events, the second acknowledged.
    assert population.position == 2 and population.version == 2

    step(
        "local measures",
        cmd(
            "local_measures_selected",
            measures=LOCAL_MEASURES,
        ),
        actor="ccg:06F:performance",
    )
    step(
        "thresholds",
        cmd("threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target=2000),
        cmd(
            "threshold_agreed",
            measure="avoidable-emergency-admissions",
            criterion="admissions-rate",
            baseline=1050,
            target=1000,
        ),
        cmd(
            "threshold_agreed",
            measure="friends-and-family",
            criterion="experience-score",
            baseline=68,
            target=70,
        ),
        cmd("threshold_agreed", measure="hcai", criterion="cdiff-cases", baseline=45, target=40),
        cmd(
            "threshold_agreed",
            measure="local-1",
            criterion="dementia-diagnosis-rate",
            baseline=0.45,
            target=0.5,
        ),
        cmd(
            "threshold_agreed",
            measure="local-2",
            criterion="smoking-at-delivery",
            baseline=0.14,
            target=0.12,
        ),
        cmd(
            "threshold_agreed",
            measure="local-3",
            criterion="iapt-access-rate",
            baseline=0.12,
            target=0.15,
        ),
        actor="lat:hertfordshire-south-midlands",
    )
    revision = step(
        "threshold revised",
        cmd(
            "threshold_agreed",
            measure="avoidable-emergency-admissions",
            criterion="admissions-rate",
            baseline=1000,
            target=950,
            reason="baseline re-based on 2012/13 HES data",
        ),
        actor="lat:hertfordshire-south-midlands",
    )
    quarters = [
        cmd("measure_submitted", measure=m, criterion=c, period=f"{YEAR}-Q{q}", value=v)
        for m, c, values in [
            ("pyll", "pyll-rate", (510, 495, 480, 470)),
            ("avoidable-emergency-admissions", "admissions-rate", (250, 240, 235, 235)),
        ]
        for q, v in zip(range(1, 5), values, strict=True)
    ]
    step("quarters", *quarters, actor="ccg:06F:performance")
    step(
        "pyll annual",
        cmd("measure_submitted", measure="pyll", criterion="pyll-rate", period=YEAR, value=1950),
        actor="ccg:06F:performance",
    )
    first_admissions = ledger.execute(
        cmd(
            "measure_submitted",
            measure="avoidable-emergency-admissions",
            criterion="admissions-rate",
            period=YEAR,
            value=960,
        ),
        actor="ccg:06F:performance",
    )
    step(
        "annual values",
        cmd(
            "measure_submitted",
            measure="friends-and-family",
            criterion="rollout",
            period=YEAR,
            value=1,
        ),
        cmd(
            "measure_submitted",
            measure="friends-and-family",
            criterion="experience-score",
            period=YEAR,
            value=72,
        ),
        cmd("measure_submitted", measure="hcai", criterion="mrsa-cases", period=YEAR, value=0),
        cmd("measure_submitted", measure="hcai", criterion="cdiff-cases", period=YEAR, value=38),
        cmd(
            "measure_submitted",
            measure="local-1",
            criterion="dementia-diagnosis-rate",
            period=YEAR,
            value=0.52,
        ),
        cmd(
            "measure_submitted",
            measure="local-2",
            criterion="smoking-at-delivery",
            period=YEAR,
            value=0.13,
        ),
        cmd(
            "measure_submitted",
            measure="local-3",
            criterion="iapt-access-rate",
            period=YEAR,
            value=0.16,
        ),
        actor="ccg:06F:performance",
    )
    correction = step(
        "late correction",
        cmd(
            "measure_submitted",
            measure="avoidable-emergency-admissions",
            criterion="admissions-rate",
            period=YEAR,
            value=940,
            reason="late correction: duplicate admissions removed from the Q3 extract",
        ),
        actor="ccg:06F:performance",
    )
    flagged = step(
        "flagged",
        cmd(
            "quality_failure_flagged",
            flag_id="QF-2014-007",
            description="CQC warning notice, Bedford Hospital maternity",
        ),
        actor="board:quality",
    )
    rescinded = step(
        "rescinded",
        cmd(
            "quality_failure_rescinded",
            flag_id="QF-2014-007",
            reason="warning notice withdrawn on appeal",
        ),
        actor="board:quality",
    )
    standards = {
        s: ledger.execute(
            cmd("constitution_standard_submitted", standard=s, period=YEAR, value=v),
            actor="board:constitution",
        )
        for s, v in [
            ("rtt-18-weeks", 0.93),
            ("ae-4-hours", 0.94),
            ("cancer-2-week-wait", 0.95),
            ("ambulance-cat-a-8-min", 0.76),
        ]
    }
    moments["standards"] = (
        standards["ambulance-cat-a-8-min"],
        ledger.decision(CCG, SCHEME).document,
    )
    declared = step(
        "financial position",
        cmd("financial_position_declared", outturn="balanced", amount_pence=0),
        actor="ccg:06F:finance",
    )

    # -- what was known at each moment (hand-computed, exact pence) ------------
    expected = {
        # nothing met yet: nothing earned, all still to be decided
        "population": (0, "provisional"),
        "local measures": (0, "provisional"),
        "thresholds": (0, "provisional"),
        "threshold revised": (0, "provisional"),
        # quarterly figures are the in-year record; only the year decides
        "quarters": (0, "provisional"),
        # pyll met: 224,976,500 x 0.125 = 28,122,062.5 -> half up 28,122,063
        "pyll annual": (28_122_063, "provisional"),
        # pyll + F&F (rollout 1 >= 1, 72 >= 70) + HCAI (0 <= 0, 38 <= 40) + local-1
        # + local-3 = 0.625; admissions 960 > revised 950 and local-2 0.13 > 0.12
        # not met: 224,976,500 x 0.625 = 140,610,312.5 -> 140,610,313
        "annual values": (140_610_313, "provisional"),
        # the correction (940 <= 950) adds 0.25: x 0.875 = 196,854,437.5 -> 196,854,438
        "late correction": (196_854_438, "provisional"),
        # an active serious quality failure closes the gate: nothing payable
        "flagged": (0, "provisional"),
        "rescinded": (196_854_438, "provisional"),
        # A&E 0.94 < 0.95 missed: x 0.75 -> 147,640,828.125 -> 147,640,828
        "standards": (147_640_828, "provisional"),
        # balanced: every component, gate and standard decided
        "financial position": (147_640_828, "final"),
    }
    assert list(moments) == list(expected)
    for label, (receipt, at_the_time) in moments.items():
        payable, status = expected[label]
        assert (at_the_time["payable_pence"], at_the_time["status"]) == (payable, status), label
        assert at_the_time["position"] == receipt.position
        assert at_the_time["as_of"] == receipt.recorded_at
        assert at_the_time["maximum_pence"] == MAXIMUM
        by_position = ledger.decision(CCG, SCHEME, position=receipt.position).document
        by_time = ledger.decision(CCG, SCHEME, as_of=receipt.recorded_at).document
        # the replay is the decision as it was issued then, bit for bit
        assert by_position == at_the_time, label
        assert by_time == at_the_time, label
        assert (
            ledger.decision(CCG, SCHEME, position=receipt.position).inputs_digest
            == (at_the_time["inputs_digest"])
        )

    # -- before the first event: nothing known --------------------------------
    for before in (
        ledger.decision(CCG, SCHEME, as_of="2013-04-01T00:00:00Z").document,
        ledger.decision(CCG, SCHEME, position=0).document,
    ):
        assert before["position"] == 0
        assert before["population"] is None and before["maximum_pence"] == 0
        assert (before["payable_pence"], before["status"]) == (0, "provisional")
        assert all(c["met"] is None for c in before["components"])
    # Position 1 is the record being opened: still nothing known about it.
    opened_only = ledger.decision(CCG, SCHEME, position=1).document
    assert opened_only["population"] is None and opened_only["payable_pence"] == 0

    # -- strictly between two events: the earlier one's facts -----------------
    t_correction = instant(correction.recorded_at)
    t_flagged = instant(flagged.recorded_at)
    assert t_flagged - t_correction >= timedelta(microseconds=2)
    between = t_correction + (t_flagged - t_correction) / 2
    assert t_correction < between < t_flagged
    mid = ledger.decision(CCG, SCHEME, as_of=iso(between)).document
    assert mid["position"] == correction.position
    assert mid["as_of"] == iso(between)
    assert (mid["payable_pence"], mid["status"]) == (196_854_438, "provisional")
    assert gate(mid, "quality-failure")["open"] is True
    # The same instant written with a UTC+1 offset is the same moment.
    bst = ledger.decision(
        CCG, SCHEME, as_of=between.astimezone(timezone(timedelta(hours=1))).isoformat()
    ).document
    assert bst == mid
    # One microsecond before the flag is still before it; the flag's own instant includes it.
    just_before = ledger.decision(
        CCG, SCHEME, as_of=iso(t_flagged - timedelta(microseconds=1))
    ).document
    assert just_before["payable_pence"] == 196_854_438
    assert ledger.decision(CCG, SCHEME, as_of=flagged.recorded_at).payable_pence == 0

    # -- the corrected criterion names the correction, not what it superseded --
    final = ledger.decision(CCG, SCHEME).document
    assert final == moments["financial position"][1]
    admissions = criterion(final, "avoidable-emergency-admissions", "admissions-rate")
    assert (admissions["value"], admissions["target"], admissions["met"]) == (940, 950, True)
    assert admissions["events"] == [ref(revision), ref(correction)]
    assert all(e["id"] != first_admissions.event_id for e in admissions["events"])
    before_correction = criterion(
        moments["annual values"][1], "avoidable-emergency-admissions", "admissions-rate"
    )
    assert (before_correction["value"], before_correction["met"]) == (960, False)
    assert before_correction["events"] == [ref(revision), ref(first_admissions)]
    # Before the revision, the original agreement (target 1000) stood.
    original = criterion(
        moments["thresholds"][1], "avoidable-emergency-admissions", "admissions-rate"
    )
    assert (original["target"], original["baseline"]) == (1000, 1050)

    # -- the rest of the final document, line by line --------------------------
    assert component(final, "avoidable-emergency-admissions")["earned_pence"] == 56_244_125
    assert component(final, "local-2")["met"] is False
    assert component(final, "local-2")["earned_pence"] == 0
    assert component(final, "pyll")["earned_pence"] == 28_122_063
    assert final["earned_pence"] == 196_854_438
    quality = gate(final, "quality-failure")
    assert quality["open"] is True
    assert quality["events"] == [ref(flagged), ref(rescinded)]
    assert gate(final, "financial-balance")["open"] is True
    assert gate(final, "financial-balance")["events"] == [ref(declared)]
    ae = deduction(final, "ae-4-hours")
    assert (ae["met"], ae["reduction"]) == (False, "0.25")
    assert ae["events"] == [ref(standards["ae-4-hours"])]
    assert [d["met"] for d in final["deductions"]] == [True, False, True, True]
    assert final["population_events"] == [ref(population)]

    # -- the history keeps every event, superseded ones included ---------------
    history = ledger.history(CCG, SCHEME)
    assert [e["position"] for e in history] == list(range(1, declared.position + 1))
    assert history[0]["type"] == "record_opened"
    targets = [
        e["fields"]["target"]
        for e in history
        if e["type"] == "threshold_agreed" and e["fields"]["criterion"] == "admissions-rate"
    ]
    assert [float(t) for t in targets] == [1000, 950]
    by_id = {e["id"]: e for e in history}
    assert by_id[correction.event_id]["reason"].startswith("late correction")
    assert by_id[correction.event_id]["actor"] == "ccg:06F:performance"
    assert by_id[first_admissions.event_id]["position"] == first_admissions.position
    assert by_id[flagged.event_id]["actor"] == "board:quality"
