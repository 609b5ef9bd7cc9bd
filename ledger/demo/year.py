"""A realistic, deterministic Quality Premium 2013/14 year for the 211 CCGs.

``demo_commands`` returns the command objects (docs/contract.md shapes, scheme
``qp-2013-14``) of one made-up but plausible year, in the order the year
happened: the Board records populations in April 2013, CCGs choose their
local measures, area teams agree thresholds, quarterly figures arrive through
the year, some thresholds are revised, a few serious quality failures are
flagged (and some rescinded), and after year end come the annual figures, the
NHS Constitution standards, the financial outturn and a round of late
corrections. Commands are interleaved by month across CCGs, not CCG by CCG.

Everything is drawn from ``random.Random`` instances seeded from ``seed`` (no
global random state, no clock), so the same seed always gives the same list.
Each CCG has its own generator (seeded from ``seed`` and its ODS code), so
``limit=N`` gives exactly the first N CCGs' share of the full year.

Numbers are emitted as plain ``int`` or ``float`` (never ``Decimal``) so that
``json.dumps`` writes JSON numbers; floats are built from whole multiples of
0.1 or 0.0001, so their JSON text is the short decimal intended and the ledger
(which parses numbers as exact decimals) compares exactly what was meant.

The probabilities are tuned so that, as in 2013/14, roughly a third of the
national pot (500 pence a head) is payable.
"""

from __future__ import annotations

import random
from typing import Any

from ledger.demo.tables import (
    ADMISSIONS,
    BOARD,
    CORRECTION_REASONS,
    EXPERIENCE,
    LOCAL_MEASURES,
    MONTH,
    MONTH_NAMES,
    MRSA_CORRECTION_REASONS,
    OVERSPEND_REASONS,
    P_CORRECTED,
    P_FLAGGED,
    P_MET,
    P_OVERSPEND,
    P_RESCINDED,
    P_REVISED,
    POPULATION_SOURCE,
    PYLL,
    QUALITY_FAILURES,
    QUARTERS,
    RESCIND_REASONS,
    REVISION_REASONS,
    SCHEME,
    STANDARDS,
    YEAR,
    Direction,
    Indicator,
)
from ledger.domain.ccgs import CCG, ccgs


def _units(rng: random.Random, low: float, high: float, scale: int) -> int:
    return rng.randint(round(low * scale), round(high * scale))


def _number(units: int, scale: int) -> int | float:
    """A JSON-friendly number: an int for counts, else a short float."""
    return units if scale == 1 else units / scale


def _side(units: int, target: int, direction: Direction) -> bool:
    return units <= target if direction == "lower" else units >= target


def _annual_units(
    rng: random.Random, target: int, direction: Direction, met: bool, spread: int
) -> int:
    """A year-end value (in units) on the met or missed side of the target."""
    step = rng.randint(0 if met else 1, max(1, spread))
    better = -1 if direction == "lower" else 1
    units = max(0, target + better * step if met else target - better * step)
    if _side(units, target, direction) != met:  # only when clamped at 0
        units = target + 1
    return units


def _quarters_around(rng: random.Random, annual: int, scale: int) -> list[int | float]:
    """In-year figures for a rate: each quarter scatters a few % around the year."""
    return [_number(max(0, round(annual * rng.uniform(0.95, 1.05))), scale) for _ in QUARTERS]


def _split_count(rng: random.Random, total: int) -> list[int]:
    """Quarterly counts that add up to the year's count."""
    counts = [0, 0, 0, 0]
    for _ in range(total):
        counts[rng.randrange(4)] += 1
    return counts


class _Year:
    """Collects one CCG's commands, each stamped with when it happened."""

    def __init__(self, ccg: CCG, rank: int) -> None:
        self.ccg = ccg
        self.rank = rank
        self.items: list[tuple[tuple[int, int, int, int], dict[str, Any]]] = []

    def add(self, month: int, phase: int, actor: str, kind: str, **fields: Any) -> None:
        command: dict[str, Any] = {"type": kind, "ccg": self.ccg.ods_code, "scheme": SCHEME}
        command.update({k: v for k, v in fields.items() if v is not None})
        command["actor"] = actor
        self.items.append(((month, phase, self.rank, len(self.items)), command))


def _ccg_year(ccg: CCG, rank: int, seed: int, ambulance_met: dict[str, bool]) -> _Year:
    rng = random.Random(f"qp-ledger-demo/{seed}/{ccg.ods_code}")
    year = _Year(ccg, rank)
    me = f"ccg:{ccg.ods_code}"
    area_team = f"area-team:{ccg.area_team_code}"
    #: how well this CCG does overall: shifts every chance of meeting a target
    performance = rng.gauss(0.0, 0.08)

    def chance(p: float) -> bool:
        return rng.random() < min(0.98, max(0.02, p + performance))

    population = round(ccg.registered_list * rng.uniform(0.98, 1.02))
    year.add(
        MONTH["population"], 0, BOARD, "population_recorded",
        population=population, source=POPULATION_SOURCE,
    )  # fmt: skip

    chosen = rng.sample(LOCAL_MEASURES, 3)
    year.add(
        MONTH["local"], 0, me, "local_measures_selected",
        measures=[
            {"slot": f"local-{i}", "name": m.name, "criterion": m.criterion,
             "direction": m.direction}
            for i, m in enumerate(chosen, start=1)
        ],
        reason="local priorities agreed with the area team in the 2013/14 operating plan",
    )  # fmt: skip

    # -- agreed criteria: threshold (maybe revised), quarters, year, maybe corrected
    agreed: list[tuple[str, Indicator, float, str]] = [
        ("pyll", PYLL, P_MET["pyll-rate"], BOARD),
        ("avoidable-emergency-admissions", ADMISSIONS, P_MET["admissions-rate"], BOARD),
        ("friends-and-family", EXPERIENCE, P_MET["experience-score"], me),
    ]
    agreed += [(f"local-{i}", m, P_MET["local"], me) for i, m in enumerate(chosen, start=1)]
    for measure, ind, p_met, submitter in agreed:
        scale = ind.scale
        baseline = _units(rng, ind.low, ind.high, scale)
        improve = rng.uniform(ind.improve_low, ind.improve_high)
        sign = -1 if ind.direction == "lower" else 1
        target = round(baseline * (1 + sign * improve))
        revised_at = rng.randint(5, 9) if rng.random() < P_REVISED else None
        if revised_at is not None:
            first_baseline = round(baseline * rng.uniform(0.97, 1.03))
            first_target = round(target * rng.uniform(0.97, 1.03))
        else:
            first_baseline, first_target = baseline, target
        year.add(
            MONTH["thresholds"], 0, area_team, "threshold_agreed",
            measure=measure, criterion=ind.criterion,
            baseline=_number(first_baseline, scale), target=_number(first_target, scale),
            reason=f"agreed with {me} at 2013/14 plan sign-off",
        )  # fmt: skip
        if revised_at is not None:
            year.add(
                revised_at, 0, area_team, "threshold_agreed",
                measure=measure, criterion=ind.criterion,
                baseline=_number(baseline, scale), target=_number(target, scale),
                reason=f"revised in {MONTH_NAMES[revised_at]}: {rng.choice(REVISION_REASONS)}",
            )  # fmt: skip
        met = chance(p_met)
        annual = _annual_units(rng, target, ind.direction, met, round(baseline * 0.05))
        _submit_year(
            year, rng, measure, ind.criterion, submitter,
            quarters=_quarters_around(rng, annual, scale),
            annual=_number(annual, scale),
            draft=_number(round(annual * rng.uniform(0.94, 1.06)), scale),
        )  # fmt: skip

    # -- Friends and Family Test roll-out (fixed target 1)
    rolled_out = chance(P_MET["rollout"])
    if rolled_out:
        rollout_q: list[int | float] = [1, 1, 1, 1] if rng.random() < 0.8 else [0, 1, 1, 1]
    else:
        rollout_q = [0, 0, 1, 0] if rng.random() < 0.3 else [0, 0, 0, 0]
    _submit_year(
        year, rng, "friends-and-family", "rollout", me,
        quarters=rollout_q, annual=1 if rolled_out else 0, draft=None,
    )  # fmt: skip

    # -- HCAI: MRSA (zero tolerance) and C. difficile (agreed objective)
    mrsa = 0 if chance(P_MET["mrsa-cases"]) else rng.choice((1, 1, 1, 1, 2, 2, 3))
    mrsa_draft = mrsa + 1 if mrsa == 0 or rng.random() < 0.5 else mrsa - 1
    _submit_year(
        year, rng, "hcai", "mrsa-cases", BOARD,
        quarters=list(_split_count(rng, mrsa)), annual=mrsa, draft=mrsa_draft,
        correction_reasons=MRSA_CORRECTION_REASONS,
    )  # fmt: skip
    cdiff_target = max(4, round(population / 100_000 * rng.uniform(14, 26)))
    cdiff_baseline = round(cdiff_target * rng.uniform(1.0, 1.25))
    year.add(
        MONTH["thresholds"], 0, area_team, "threshold_agreed",
        measure="hcai", criterion="cdiff-cases", baseline=cdiff_baseline, target=cdiff_target,
        reason=f"agreed with {me}: national C. difficile objective for 2013/14",
    )  # fmt: skip
    cdiff = _annual_units(
        rng, cdiff_target, "lower", chance(P_MET["cdiff-cases"]), max(2, cdiff_target // 5)
    )
    _submit_year(
        year, rng, "hcai", "cdiff-cases", BOARD,
        quarters=list(_split_count(rng, cdiff)), annual=cdiff,
        draft=max(0, cdiff + rng.choice((-2, -1, 1, 2))),
    )  # fmt: skip

    # -- NHS Constitution standards (ambulance: shared by the area team's service)
    for standard, (threshold, p_miss, worst, best) in STANDARDS.items():
        if standard == "ambulance-cat-a-8-min":
            missed = not ambulance_met[ccg.area_team_code]
        else:
            missed = rng.random() < max(0.0, p_miss - performance)
        bp = rng.randint(worst, threshold - 1) if missed else rng.randint(threshold, best)
        year.add(
            MONTH["annual"], 2, BOARD, "constitution_standard_submitted",
            standard=standard, period=YEAR, value=bp / 10_000,
            reason="year-end position, 2013/14 published statistics",
        )  # fmt: skip

    # -- serious quality failures
    if rng.random() < P_FLAGGED:
        flag_id = f"sqf-2013-{ccg.ods_code.lower()}-1"
        flagged_at = rng.randint(5, 11)
        year.add(
            flagged_at, 1, BOARD, "quality_failure_flagged",
            flag_id=flag_id, description=rng.choice(QUALITY_FAILURES),
            reason="raised by the area team's quality surveillance group",
        )  # fmt: skip
        if rng.random() < P_RESCINDED:
            year.add(
                min(15, flagged_at + rng.randint(2, 5)), 1, BOARD, "quality_failure_rescinded",
                flag_id=flag_id, reason=rng.choice(RESCIND_REASONS),
            )  # fmt: skip

    # -- financial position at year end
    if rng.random() < P_OVERSPEND:
        pounds = rng.randint(200, 6000) * 1000
        year.add(
            MONTH["financial"], 3, me, "financial_position_declared",
            outturn="overspend", amount_pence=pounds * 100, reason=rng.choice(OVERSPEND_REASONS),
        )  # fmt: skip
    else:
        year.add(
            MONTH["financial"], 3, me, "financial_position_declared",
            outturn="balanced", amount_pence=0,
            reason="month-12 outturn: financial balance achieved",
        )  # fmt: skip
    return year


def _submit_year(
    year: _Year,
    rng: random.Random,
    measure: str,
    criterion: str,
    actor: str,
    *,
    quarters: list[int | float],
    annual: int | float,
    draft: int | float | None,
    correction_reasons: tuple[str, ...] = CORRECTION_REASONS,
) -> None:
    """Quarterly in-year figures, the year-end figure and sometimes a late correction.

    ``annual`` is the figure the year is finally decided on. When a late
    correction happens (and ``draft`` is given), ``draft`` is what was first
    submitted for the year, superseded by ``annual`` after year end.
    """
    for q, (period, value) in enumerate(zip(QUARTERS, quarters, strict=True), start=1):
        year.add(
            MONTH[f"Q{q}"], 0, actor, "measure_submitted",
            measure=measure, criterion=criterion, period=period, value=value,
        )  # fmt: skip
    late = draft is not None and draft != annual and rng.random() < P_CORRECTED
    year.add(
        MONTH["annual"], 1, actor, "measure_submitted",
        measure=measure, criterion=criterion, period=YEAR,
        value=draft if late else annual, reason="year-end figure",
    )  # fmt: skip
    if late:
        year.add(
            MONTH["corrections"], 0, actor, "measure_submitted",
            measure=measure, criterion=criterion, period=YEAR, value=annual,
            reason=rng.choice(correction_reasons),
        )  # fmt: skip


def demo_commands(seed: int = 2013, limit: int | None = None) -> list[dict[str, Any]]:
    """The commands of a made-up 2013/14 year, in the order the year happened.

    All 211 CCGs (or the first ``limit``, in ``ccgs()`` order); the same seed
    always gives the same list, and ``limit`` gives a prefix of the same year.
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    everyone = list(ccgs().values())
    chosen = everyone if limit is None else everyone[:limit]
    # One ambulance result per area team: its CCGs share an ambulance service.
    ambulance_rng = random.Random(f"qp-ledger-demo/{seed}/ambulance")
    p_ambulance = 1 - STANDARDS["ambulance-cat-a-8-min"][1]
    ambulance_met = {
        code: ambulance_rng.random() < p_ambulance
        for code in sorted({c.area_team_code for c in everyone})
    }
    items = [
        item
        for rank, ccg in enumerate(chosen)
        for item in _ccg_year(ccg, rank, seed, ambulance_met).items
    ]
    items.sort(key=lambda item: item[0])
    return [command for _, command in items]
