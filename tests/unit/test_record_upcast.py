"""A version-3 snapshot (entries named only by their ``"measure/criterion/period"``
keys) upcasts to exactly the state today's code builds from the same events."""

from __future__ import annotations

import copy
from decimal import Decimal

from ledger.domain.record import CCGPremiumRecord

SCHEME = "qp-2013-14"


def _record() -> CCGPremiumRecord:
    record = CCGPremiumRecord("06F", SCHEME, "board")
    record.agree_threshold("pyll", "pyll-rate", Decimal("2100.5"), Decimal("2000"), "at", None)
    record.submit_measure("pyll", "pyll-rate", "2013-14", Decimal("1990"), "ccg", None)
    record.submit_measure("pyll", "pyll-rate", "2013-14-Q1", Decimal("2010"), "ccg", None)
    record.submit_standard("ae-4-hours", "2013-14", Decimal("0.951"), "board", "year end")
    return record


def _as_version_3(state: dict[str, object]) -> dict[str, object]:
    old = copy.deepcopy(state)
    for table, named_by in (
        ("thresholds", ("measure", "criterion")),
        ("values", ("measure", "criterion", "period")),
        ("standards", ("standard", "period")),
    ):
        for entry in old[table].values():  # type: ignore[attr-defined]
            for name in named_by:
                del entry[name]
    return old


def test_a_version_3_snapshot_upcasts_to_the_state_built_from_events() -> None:
    snapshot = CCGPremiumRecord.Snapshot.take(_record())
    state = snapshot.state
    assert state["class_version"] == 4
    assert state["values"]["pyll/pyll-rate/2013-14-Q1"]["period"] == "2013-14-Q1"
    assert state["standards"]["ae-4-hours/2013-14"]["standard"] == "ae-4-hours"
    old = _as_version_3(state)
    assert old != state
    CCGPremiumRecord.upcast_v3_v4(old)
    assert old == state


def test_a_version_3_snapshot_reads_as_the_same_record() -> None:
    record = _record()
    snapshot = CCGPremiumRecord.Snapshot.take(record)
    old = _as_version_3(snapshot.state)
    old["class_version"] = 3
    restored = CCGPremiumRecord.Snapshot(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=snapshot.topic,
        state=old,
    ).mutate(None)
    assert restored.thresholds == record.thresholds
    assert restored.values == record.values
    assert restored.standards == record.standards
