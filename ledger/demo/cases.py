"""The demo's MRSA case story (issue 14), in the scheme that counts MRSA from cases.

The Luton and Dunstable Hospital (trust RC9) serves Luton (06P),
Bedfordshire (06F) and Herts Valleys (06N). Their demo year is repeated in
``qp-2013-14-pir`` (every command as in the main demo, less the submitted
``mrsa-cases`` counts, which that scheme derives from cases), and then come
four cases, in the order they happened after year end:

* ``MRSA-RC9-2013-0007`` — reported against Luton, assigned to Luton by its
  post-infection review, and on challenge reassigned to the trust: Luton loses
  its HCAI share, then gets it back;
* ``MRSA-RC9-2013-0011`` — reported against Bedfordshire, assigned to the
  trust: no CCG loses anything;
* ``MRSA-RC9-2014-0002`` — reported against Herts Valleys and assigned to it:
  Herts Valleys loses its HCAI share;
* ``MRSA-RC9-2014-0005`` — reported against Bedfordshire, then withdrawn (a
  contaminated sample).

The story comes after the whole main demo (``qp-ledger demo --with-cases``),
so none of the main demo's positions or figures move.
"""

from __future__ import annotations

from typing import Any

from ledger.demo.tables import BOARD
from ledger.demo.year import demo_commands

SCHEME = "qp-2013-14-pir"
TRUST = "RC9"
LUTON, BEDFORDSHIRE, HERTS_VALLEYS = "06P", "06F", "06N"
STORY_CCGS = (LUTON, BEDFORDSHIRE, HERTS_VALLEYS)
AREA_TEAM = "area-team:E39000015"
PIR_LEAD = "PIR lead, {} CCG"
REASSIGNED_CASE = "MRSA-RC9-2013-0007"


def _report(case_id: str, ccg: str, specimen_date: str) -> dict[str, Any]:
    return {
        "type": "hcai_case_reported", "ccg": ccg, "scheme": SCHEME, "actor": BOARD,
        "case_id": case_id, "organism": "mrsa", "specimen_date": specimen_date, "trust": TRUST,
        "reason": "MRSA bloodstream infection reported to the HCAI data capture system",
    }  # fmt: skip


def _assign(
    case_id: str, ccg: str, to: str, by: str, reference: str, reason: str
) -> dict[str, Any]:
    return {
        "type": "hcai_case_assigned", "ccg": ccg, "scheme": SCHEME, "actor": AREA_TEAM,
        "case_id": case_id, "assigned_to": to, "assigned_by": by, "pir_reference": reference,
        "reason": reason,
    }  # fmt: skip


def case_commands() -> list[dict[str, Any]]:
    """The four cases, in the order their reports, reviews and challenges happened."""
    return [
        _report(REASSIGNED_CASE, LUTON, "2013-09-14"),
        _report("MRSA-RC9-2013-0011", BEDFORDSHIRE, "2013-12-02"),
        _report("MRSA-RC9-2014-0002", HERTS_VALLEYS, "2014-02-20"),
        _report("MRSA-RC9-2014-0005", BEDFORDSHIRE, "2014-03-03"),
        _assign(
            REASSIGNED_CASE,
            LUTON,
            f"ccg:{LUTON}",
            PIR_LEAD.format("NHS Luton"),
            "PIR/RC9/2013/07",
            "community-onset: positive within 48 hours of admission",
        ),
        _assign(
            "MRSA-RC9-2013-0011",
            BEDFORDSHIRE,
            f"trust:{TRUST}",
            "PIR lead, Luton and Dunstable Hospital",
            "PIR/RC9/2013/11",
            "hospital-onset: peripheral line infection",
        ),
        _assign(
            "MRSA-RC9-2014-0002",
            HERTS_VALLEYS,
            f"ccg:{HERTS_VALLEYS}",
            PIR_LEAD.format("NHS Herts Valleys"),
            "PIR/RC9/2014/02",
            "community-onset: care home resident, no recent hospital contact",
        ),
        {
            "type": "hcai_case_withdrawn",
            "ccg": BEDFORDSHIRE,
            "scheme": SCHEME,
            "actor": BOARD,
            "case_id": "MRSA-RC9-2014-0005",
            "reason": "contaminated sample: repeat culture negative",
        },
        _assign(
            REASSIGNED_CASE,
            LUTON,
            f"trust:{TRUST}",
            "arbitration panel, NHS England Hertfordshire and the South Midlands",
            "PIR/RC9/2013/07-A",
            "challenge upheld: the patient had a long-term line inserted at the trust",
        ),
    ]


def demo_case_commands(seed: int = 2013) -> list[dict[str, Any]]:
    """The three CCGs' year in ``qp-2013-14-pir``, then the four cases (module docstring)."""
    year = [
        {**command, "scheme": SCHEME}
        for command in demo_commands(seed=seed)
        if command["ccg"] in STORY_CCGS
        and not (command["type"] == "measure_submitted" and command["criterion"] == "mrsa-cases")
    ]
    return [*year, *case_commands()]
