"""The CCGs of England as at April 2013 (reference data shipped with the package).

Unknown CCG codes are rejected everywhere, so every part of the ledger asks
this registry; the file is read once per process because it never changes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class CCG:
    ods_code: str
    ons_code: str
    name: str
    area_team_code: str
    area_team_name: str
    region_code: str
    region_name: str
    registered_list: int


@cache
def ccgs() -> dict[str, CCG]:
    """All CCGs keyed by ODS code, in file order."""
    text = resources.files("ledger.reference").joinpath("ccgs-2013.csv").read_text("utf-8")
    out: dict[str, CCG] = {}
    for row in csv.DictReader(text.splitlines()):
        ccg = CCG(
            ods_code=row["ods_code"],
            ons_code=row["ons_code"],
            name=row["name"],
            area_team_code=row["area_team_code"],
            area_team_name=row["area_team_name"],
            region_code=row["region_code"],
            region_name=row["region_name"],
            registered_list=int(row["registered_list_2013_14"]),
        )
        out[ccg.ods_code] = ccg
    return out


def get_ccg(ods_code: str) -> CCG | None:
    return ccgs().get(ods_code)
