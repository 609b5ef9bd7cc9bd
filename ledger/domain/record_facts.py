"""The facts a decision reads, from a CCG's record as its events left it.

Pure (no storage): the ledger calls it with references looked up in its
index, and the evidence-bundle verifier (``ledger.integrity.bundle``) with
references rebuilt from the bundled leaves, so both build the engine's input
the same way and an offline re-run can match the issued decision.
"""

from __future__ import annotations

from ledger.domain.facts import (
    CaseFact,
    EventRef,
    Facts,
    FinancialFact,
    FlagFact,
    LocalMeasureFact,
    PopulationFact,
    ThresholdFact,
    ValueFact,
)
from ledger.domain.record import CCGPremiumRecord


def typed_versions(record: CCGPremiumRecord) -> dict[int, str]:
    """Every event version the record's current facts rest on, with its type."""
    out: dict[int, str] = {}
    if record.population:
        out[record.population["version"]] = "population_recorded"
    for m in record.local_measures.values():
        out[m["version"]] = "local_measures_selected"
    for t in record.thresholds.values():
        out[t["version"]] = "threshold_agreed"
    for v in record.values.values():
        out[v["version"]] = "measure_submitted"
    for s in record.standards.values():
        out[s["version"]] = "constitution_standard_submitted"
    for f in record.flags:
        for version, kind in f["versions"]:
            out[version] = kind
    if record.financial:
        out[record.financial["version"]] = "financial_position_declared"
    for c in getattr(record, "cases", ()):
        for version, kind in c["versions"]:
            out[version] = kind
    return out


def facts_from_record(
    record: CCGPremiumRecord, refs: dict[int, EventRef], position: int, as_of: str | None
) -> Facts:
    pop = record.population
    fin = record.financial
    return Facts(
        ccg=record.ccg,
        scheme=record.scheme,
        position=position,
        as_of=as_of,
        population=PopulationFact(pop["population"], pop["source"], refs[pop["version"]])
        if pop
        else None,
        local_measures={
            slot: LocalMeasureFact(
                slot, m["name"], m["criterion"], m["direction"], refs[m["version"]]
            )
            for slot, m in record.local_measures.items()
        },
        thresholds={
            key: ThresholdFact(
                t["measure"], t["criterion"], t["baseline"], t["target"], refs[t["version"]]
            )
            for key, t in record.thresholds.items()
        },
        values={
            key: ValueFact(key, v["period"], v["value"], refs[v["version"]])
            for key, v in record.values.items()
        },
        standards={
            key: ValueFact(key, s["period"], s["value"], refs[s["version"]])
            for key, s in record.standards.items()
        },
        flags={
            f["flag_id"]: FlagFact(
                f["flag_id"],
                f["description"],
                f["active"],
                tuple(refs[v] for v, _ in f["versions"]),
            )
            for f in record.flags
        },
        financial=FinancialFact(fin["outturn"], fin["amount_pence"], refs[fin["version"]])
        if fin
        else None,
        cases=tuple(
            CaseFact(
                case_id=c["case_id"],
                organism=c["organism"],
                specimen_date=c["specimen_date"],
                trust=c["trust"],
                responsible_ccg=c["responsible_ccg"],
                assigned_by=c["assigned_by"],
                pir_reference=c["pir_reference"],
                active=c["active"],
                now=c.get("now"),
                now_assigned_by=c.get("now_assigned_by"),
                now_pir_reference=c.get("now_pir_reference"),
                case_event=c["case_event"],
                events=tuple(refs[v] for v, _ in c["versions"]),
            )
            for c in getattr(record, "cases", ())
        ),
    )
