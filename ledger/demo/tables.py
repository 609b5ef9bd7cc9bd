"""The made-up figures behind the demo year: indicators, odds, months and reasons.

Kept apart from the generator (``ledger.demo.year``) so the tuning a reader
may want to change is one screen of data, not buried in the code that draws
from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SCHEME = "qp-2013-14"
YEAR = "2013-14"
QUARTERS = tuple(f"{YEAR}-Q{q}" for q in range(1, 5))
POPULATION_SOURCE = "ONS mid-2012 projection moderated list, seeded demo"
BOARD = "board"

Direction = Literal["lower", "higher"]


@dataclass(frozen=True)
class Indicator:
    """How to make up plausible figures for one agreed criterion."""

    criterion: str
    name: str
    direction: Direction
    #: baseline range, in real units
    low: float
    high: float
    #: agreed improvement on the baseline, as a fraction of it
    improve_low: float
    improve_high: float
    #: values are whole multiples of 1/scale (10: one decimal place)
    scale: int = 10


#: National criteria whose target is agreed with the area team.
PYLL = Indicator(
    "pyll-rate", "PYLL from causes amenable to healthcare (per 100,000)",
    "lower", 1500, 3200, 0.032, 0.032,
)  # fmt: skip
ADMISSIONS = Indicator(
    "admissions-rate", "Avoidable emergency admissions, composite (per 100,000)",
    "lower", 1500, 2600, 0.0, 0.03,
)  # fmt: skip
EXPERIENCE = Indicator(
    "experience-score", "Patient experience of hospital care (score out of 100)",
    "higher", 74, 86, 0.005, 0.02,
)  # fmt: skip

#: Local measures a CCG may choose (three each), as agreed in 2013/14 plans.
LOCAL_MEASURES: tuple[Indicator, ...] = (
    Indicator(
        "dementia-diagnosis-rate", "Dementia diagnosis rate (% of estimated prevalence)",
        "higher", 38, 55, 0.05, 0.12,
    ),
    Indicator(
        "copd-admissions-rate", "Emergency admissions for COPD (per 100,000)",
        "lower", 180, 420, 0.02, 0.06,
    ),
    Indicator(
        "iapt-access-rate", "IAPT access: % of people with anxiety or depression treated",
        "higher", 7, 14, 0.10, 0.30,
    ),
    Indicator(
        "falls-admissions-rate", "Emergency admissions for falls, aged 65+ (per 100,000)",
        "lower", 1700, 2600, 0.02, 0.05,
    ),
    Indicator(
        "diabetes-care-processes-rate", "Diabetes: all eight care processes completed (%)",
        "higher", 50, 70, 0.03, 0.08,
    ),
    Indicator(
        "home-deaths-rate", "Deaths in usual place of residence (%)",
        "higher", 38, 50, 0.02, 0.06,
    ),
    Indicator(
        "alcohol-admissions-rate", "Alcohol-related hospital admissions (per 100,000)",
        "lower", 550, 950, 0.02, 0.05,
    ),
    Indicator(
        "child-asthma-admissions-rate",
        "Emergency admissions for asthma, under-19s (per 100,000)",
        "lower", 140, 320, 0.03, 0.08,
    ),
    Indicator(
        "af-anticoagulation-rate", "Atrial fibrillation: patients anticoagulated (%)",
        "higher", 50, 65, 0.03, 0.08,
    ),
    Indicator(
        "readmissions-30-day-rate", "Emergency readmissions within 30 days (%)",
        "lower", 10.5, 13.5, 0.02, 0.05,
    ),
)  # fmt: skip

#: Chance that a criterion's year-end value meets its target (before the
#: CCG's own performance shifts it). Tuned for about a third of the pot.
P_MET = {
    "pyll-rate": 0.50,
    "admissions-rate": 0.45,
    "experience-score": 0.60,
    "rollout": 0.90,
    "mrsa-cases": 0.55,
    "cdiff-cases": 0.60,
    "local": 0.55,
}

#: Constitution standards, in basis points: (threshold, chance of missing it,
#: plausible worst and best year-end values).
STANDARDS: dict[str, tuple[int, float, int, int]] = {
    "rtt-18-weeks": (9200, 0.10, 8800, 9700),
    "ae-4-hours": (9500, 0.35, 9000, 9850),
    "cancer-2-week-wait": (9300, 0.08, 8900, 9750),
    "ambulance-cat-a-8-min": (7500, 0.35, 7000, 8000),
}

P_REVISED = 0.15  # an agreed threshold is revised later in the year
P_CORRECTED = 0.10  # an annual value is corrected after year end
P_FLAGGED = 0.05  # a serious quality failure is flagged for the CCG
P_RESCINDED = 0.40  # ... and later rescinded
P_OVERSPEND = 0.08  # the CCG declares an overspend for the year

#: Months from April 2013 (0) to when each kind of fact reached the ledger.
MONTH = {
    "population": 0,  # Apr 2013
    "local": 1,  # May 2013
    "thresholds": 2,  # Jun 2013
    "Q1": 4,  # Aug 2013
    "Q2": 7,  # Nov 2013
    "Q3": 10,  # Feb 2014
    "Q4": 13,  # May 2014
    "annual": 14,  # Jun 2014
    "financial": 14,
    "corrections": 16,  # Aug 2014
}
MONTH_NAMES = (
    "April 2013", "May 2013", "June 2013", "July 2013", "August 2013", "September 2013",
    "October 2013", "November 2013", "December 2013", "January 2014", "February 2014",
    "March 2014", "April 2014", "May 2014", "June 2014", "July 2014", "August 2014",
)  # fmt: skip

REVISION_REASONS = (
    "baseline restated after the HES annual refresh",
    "target re-agreed at the mid-year assurance review",
    "baseline corrected: earlier figure used the wrong population denominator",
    "target revised for a provider service reconfiguration",
)
CORRECTION_REASONS = (
    "late correction: validated figure after data quality review",
    "late correction: records coded after the submission deadline",
    "late correction: duplicate records removed",
    "late correction: provider resubmitted its year-end return",
)
MRSA_CORRECTION_REASONS = (
    "late correction: post-infection review reassigned a case",
    "late correction: case attributed after post-infection review",
)
QUALITY_FAILURES = (
    "CQC warning notices at the main acute provider: unsafe staffing on medical wards",
    "Cluster of never events at a commissioned provider (wrong-site surgery)",
    "Main acute provider placed in special measures after the Keogh review",
    "Serious failings in the care of older people found at a commissioned care home group",
    "Repeated mixed-sex accommodation breaches and failure to act on CQC findings",
)
RESCIND_REASONS = (
    "Board review: the CCG's remedial action plan is adequate and in place",
    "Board review: the failure lies with a provider commissioned by NHS England, not the CCG",
    "Board review on appeal: the evidence does not meet the serious quality failure test",
)
OVERSPEND_REASONS = (
    "unplanned deficit: acute over-performance against contract",
    "unplanned deficit: continuing healthcare costs above plan",
    "unplanned deficit: prescribing costs above plan",
)
