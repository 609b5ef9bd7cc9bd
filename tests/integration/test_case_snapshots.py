"""Snapshots from before HCAI cases (class_version 2) still load, and a record with cases
snapshots and replays like any other (issue 14)."""

from __future__ import annotations

from typing import Any

from ledger.domain.record import CCGPremiumRecord, stream_id
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14-pir"


def cmd(kind: str, ccg: str = "06F", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


def test_a_version_2_snapshot_is_upcast_to_a_record_without_cases(ledger: QPLedger) -> None:
    ledger.execute(cmd("population_recorded", population=449_953, source="ONS"))
    before = ledger.decision("06F", SCHEME).document
    record = ledger.repository.get(stream_id("06F", SCHEME))
    snapshot = CCGPremiumRecord.Snapshot.take(record)
    snapshot.state["class_version"] = 2
    del snapshot.state["cases"]
    ledger.snapshots.put([snapshot])  # type: ignore[union-attr]

    fresh = QPLedger(ledger.database_url)
    try:
        (stored,) = fresh.snapshots.get(stream_id("06F", SCHEME))  # type: ignore[union-attr]
        assert stored.state["class_version"] == 2 and "cases" not in stored.state
        assert fresh.decision("06F", SCHEME).document == before
        # and the record read from it takes a case
        fresh.execute(
            cmd(
                "hcai_case_reported",
                case_id="C-1",
                organism="mrsa",
                specimen_date="2013-05-05",
                trust="RC1",
            )
        )
        fresh.execute(
            cmd(
                "hcai_case_assigned",
                case_id="C-1",
                assigned_to="ccg:06F",
                assigned_by="PIR",
                pir_reference="P-1",
            )
        )
        assert fresh.decision("06F", SCHEME).payable_pence == 0
    finally:
        fresh.close()


def test_a_snapshot_of_a_record_with_cases_replays_exactly(ledger: QPLedger) -> None:
    """Past the snapshot interval (50 events), decisions read from snapshots and events agree."""
    ledger.execute(cmd("population_recorded", population=449_953, source="ONS"))
    positions = []
    for n in range(60):
        case_id = f"C-{n}"
        ledger.execute(
            cmd(
                "hcai_case_reported",
                case_id=case_id,
                organism="mrsa",
                specimen_date="2013-05-05",
                trust="RC1",
            )
        )
        to = "ccg:06F" if n % 3 else "trust:RC1"
        ledger.execute(
            cmd(
                "hcai_case_assigned",
                case_id=case_id,
                assigned_to=to,
                assigned_by="PIR",
                pir_reference=f"P-{n}",
            )
        )
        if n % 3 == 1:
            ledger.execute(cmd("hcai_case_withdrawn", case_id=case_id))
        positions.append(ledger.max_position())
    assert ledger.stream_version("06F", SCHEME) > 50
    snapshots = list(ledger.snapshots.get(stream_id("06F", SCHEME)))  # type: ignore[union-attr]
    assert snapshots, "the record was snapshotted"
    fresh = QPLedger(ledger.database_url)
    try:
        for n, position in enumerate(positions):
            expected = sum(1 for k in range(n + 1) if k % 3 == 2)
            for reader in (ledger, fresh):
                document = reader.decision("06F", SCHEME, position=position).document
                hcai = next(c for c in document["components"] if c["measure"] == "hcai")
                assert hcai["criteria"][0]["value"] == expected
    finally:
        fresh.close()
