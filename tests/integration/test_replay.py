"""Point-in-time replays: by log position and by recorded time ("as of").

DESIGN.md "Time": recorded time is set by the ledger, monotonic in log order;
"as of T" uses only events recorded at or before T; every replay can also be
asked by log position. docs/contract.md "Decisions": ``--as-of`` or ``--position``,
not both; without either, now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.adapters.recorder import now_us
from ledger.domain.commands import parse_command
from ledger.domain.errors import InvalidCommand, UnknownCCG
from ledger.domain.record import stream_id
from ledger.service.application import QPLedger

SCHEME = "qp-2013-14"
YEAR = "2013-14"


def cmd(kind: str, ccg: str = "06F", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


def population(ccg: str = "06F", size: int = 449_953) -> dict[str, Any]:
    return cmd("population_recorded", ccg, population=size, source="ONS")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_nothing_known(doc: dict[str, Any]) -> None:
    assert doc["status"] == "provisional"
    assert doc["population"] is None
    assert doc["maximum_pence"] == 0
    assert doc["payable_pence"] == doc["earned_pence"] == 0
    assert all(c["met"] is None and c["earned_pence"] == 0 for c in doc["components"])
    assert all(d["met"] is None and d["reduction"] == "0" for d in doc["deductions"])
    gates = {g["gate"]: g for g in doc["gates"]}
    assert gates["quality-failure"]["open"] is True
    assert gates["financial-balance"]["open"] is None
    assert all(g["events"] == [] for g in doc["gates"])


# -- refused replays --------------------------------------------------------------


def test_position_beyond_the_head_is_refused(ledger: QPLedger) -> None:
    ledger.execute(population())
    assert ledger.max_position() == 2
    with pytest.raises(InvalidCommand) as caught:
        ledger.decision("06F", SCHEME, position=3)
    assert caught.value.message == "position: 3 is beyond the end of the log (2)"
    assert caught.value.field == "position"
    with pytest.raises(InvalidCommand, match="position: must be a whole number >= 0"):
        ledger.decision("06F", SCHEME, position=-1)
    # The head itself is fine.
    assert ledger.decision("06F", SCHEME, position=2).document["population"] == 449_953


def test_an_as_of_in_the_future_is_refused(ledger: QPLedger) -> None:
    ledger.execute(population())
    future = iso(datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(InvalidCommand) as caught:
        ledger.decision("06F", SCHEME, as_of=future)
    assert caught.value.message == (
        f"as_of: {future} is in the future; a replay can only use what the ledger already knows"
    )
    assert caught.value.field == "as_of"


def test_as_of_and_position_together_are_refused(ledger: QPLedger) -> None:
    receipt = ledger.execute(population())
    with pytest.raises(InvalidCommand, match=r"^give as_of or position, not both$"):
        ledger.decision("06F", SCHEME, as_of=receipt.recorded_at, position=receipt.position)


def test_an_as_of_that_is_not_a_time_is_refused(ledger: QPLedger) -> None:
    with pytest.raises(InvalidCommand) as caught:
        ledger.decision("06F", SCHEME, as_of="last Tuesday")
    assert caught.value.message == (
        "as_of: 'last Tuesday' is not an ISO-8601 date-time (e.g. 2014-04-01T09:00:00Z)"
    )


def test_unknown_ccg_or_scheme_is_refused(ledger: QPLedger) -> None:
    with pytest.raises(UnknownCCG, match="unknown CCG code 'ZZZ'"):
        ledger.decision("ZZZ", SCHEME)
    with pytest.raises(Exception, match="unknown scheme 'qp-1999-00'"):
        ledger.decision("06F", "qp-1999-00")
    with pytest.raises(UnknownCCG):
        ledger.history("ZZZ", SCHEME)


# -- empty points ---------------------------------------------------------------


def test_position_zero_is_an_empty_provisional_decision(ledger: QPLedger) -> None:
    empty = ledger.decision("06F", SCHEME, position=0).document
    assert (empty["position"], empty["as_of"]) == (0, None)
    assert_nothing_known(empty)
    ledger.execute(population())
    ledger.execute(cmd("financial_position_declared", outturn="overspend", amount_pence=12_000))
    later = ledger.decision("06F", SCHEME, position=0).document
    assert later == empty


def test_an_empty_log_decides_now_as_position_zero(ledger: QPLedger) -> None:
    now = ledger.decision("06F", SCHEME).document
    assert (now["position"], now["as_of"]) == (0, None)
    assert_nothing_known(now)
    assert now == ledger.decision("06F", SCHEME, position=0).document


def test_a_known_ccg_with_no_events_is_provisional_with_no_population(ledger: QPLedger) -> None:
    ledger.execute(population("00C", 106_303))
    last = ledger.execute(population("00D", 287_987))
    doc = ledger.decision("06F", SCHEME).document
    assert doc["ccg"] == "06F" and doc["scheme"] == SCHEME
    assert doc["position"] == last.position
    assert doc["as_of"] == last.recorded_at
    assert_nothing_known(doc)
    assert ledger.history("06F", SCHEME) == []
    assert ledger.decision("00D", SCHEME).document["maximum_pence"] == 143_993_500


def test_as_of_before_every_event_knows_nothing(ledger: QPLedger) -> None:
    ledger.execute(population())
    doc = ledger.decision("06F", SCHEME, as_of="2014-04-01T09:00:00Z").document
    assert doc["position"] == 0
    assert doc["as_of"] == "2014-04-01T09:00:00.000000Z"
    assert_nothing_known(doc)


# -- as of: inclusive, to the microsecond ------------------------------------------


def test_as_of_includes_events_recorded_at_that_instant_and_not_after(ledger: QPLedger) -> None:
    first = ledger.execute(population())
    second = ledger.execute(cmd("quality_failure_flagged", flag_id="QF-1", description="x"))
    at_second = ledger.decision("06F", SCHEME, as_of=second.recorded_at).document
    assert at_second["position"] == second.position
    assert at_second["gates"][0]["open"] is False
    just_before = iso(instant(second.recorded_at) - timedelta(microseconds=1))
    before = ledger.decision("06F", SCHEME, as_of=just_before).document
    assert before["position"] == first.position
    assert before["as_of"] == just_before
    assert before["gates"][0]["open"] is True
    # Without a time zone an instant is UTC; with one, it is converted.
    naive = second.recorded_at.removesuffix("Z")
    assert ledger.decision("06F", SCHEME, as_of=naive).document == at_second
    offset = instant(second.recorded_at).astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert offset.isoformat().endswith("+05:30")
    offset = offset.isoformat()
    assert ledger.decision("06F", SCHEME, as_of=offset).document["position"] == second.position


def test_now_equals_the_head_by_position_and_by_time(ledger: QPLedger) -> None:
    ledger.execute(population())
    head = ledger.execute(
        cmd("measure_submitted", measure="pyll", criterion="pyll-rate", period=YEAR, value=1950)
    )
    now = ledger.decision("06F", SCHEME).document
    assert (now["position"], now["as_of"]) == (head.position, head.recorded_at)
    assert ledger.decision("06F", SCHEME, position=head.position).document == now
    assert ledger.decision("06F", SCHEME, as_of=head.recorded_at).document == now
    # Replaying twice gives the same document and digest.
    assert ledger.decision("06F", SCHEME).document == now
    assert ledger.decision("06F", SCHEME).inputs_digest == now["inputs_digest"]
    assert now["inputs_digest"].startswith("sha256:") and len(now["inputs_digest"]) == 71


# -- history --------------------------------------------------------------------


def test_history_lists_every_event_with_position_time_actor_and_reason(ledger: QPLedger) -> None:
    r1 = ledger.execute(population(), actor="board:finance")
    # The same threshold agreed, then revised; both bodies name an actor.
    pyll = cmd("threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100)
    r2 = ledger.execute({**pyll, "target": 2000, "actor": "lat:body"}, actor="lat:caller")
    r3 = ledger.execute({**pyll, "target": 1990, "reason": "revised", "actor": "lat:body"})
    history = ledger.history("06F", SCHEME)
    assert [e["position"] for e in history] == [1, 2, 3, 4]
    assert [e["version"] for e in history] == [1, 2, 3, 4]
    assert [e["type"] for e in history] == [
        "record_opened",
        "population_recorded",
        "threshold_agreed",
        "threshold_agreed",
    ]
    assert [e["id"] for e in history[1:]] == [r1.event_id, r2.event_id, r3.event_id]
    assert [e["recorded_at"] for e in history[1:]] == [
        r1.recorded_at,
        r2.recorded_at,
        r3.recorded_at,
    ]
    # The caller's identity wins over the body; the body's is used when there is none.
    assert [e["actor"] for e in history] == [
        "board:finance",
        "board:finance",
        "lat:caller",
        "lat:body",
    ]
    assert [e["reason"] for e in history] == [None, None, None, "revised"]
    assert history[1]["fields"] == {"population": 449_953, "source": "ONS"}
    assert float(history[3]["fields"]["target"]) == 1990
    # Paging walks the same events.
    assert ledger.history("06F", SCHEME, offset=1, limit=2) == history[1:3]
    assert list(ledger.iter_history("06F", SCHEME, page=3)) == history


def test_recorded_time_strictly_increases_with_position_across_streams(ledger: QPLedger) -> None:
    ccgs = ["06F", "00C", "00D"]
    for round_ in range(3):
        for ccg in ccgs:
            ledger.execute(
                cmd("quality_failure_flagged", ccg, flag_id=f"QF-{round_}", description="x")
            )
    # One import writes many events in one transaction: still strictly increasing.
    report = ledger.import_lines(
        cmd_line
        for ccg in ccgs
        for cmd_line in (
            f'{{"type": "quality_failure_rescinded", "ccg": "{ccg}", "scheme": "{SCHEME}", '
            f'"flag_id": "QF-{i}"}}'
            for i in range(3)
        )
    )
    assert report.rejected == 0
    events = sorted(
        ((c, e) for c in ccgs for e in ledger.history(c, SCHEME)), key=lambda ce: ce[1]["position"]
    )
    assert [e["position"] for _, e in events] == list(range(1, ledger.max_position() + 1))
    times = [instant(e["recorded_at"]) for _, e in events]
    assert all(a < b for a, b in pairwise(times))
    # So every recorded time names exactly its own log prefix.
    for ccg, e in events[::3]:
        doc = ledger.decision(ccg, SCHEME, as_of=e["recorded_at"]).document
        assert doc["position"] == e["position"]


def test_replays_across_a_snapshot_are_unchanged(ledger: QPLedger) -> None:
    """The record is snapshotted every 50 events; replays either side must not notice."""
    captured: list[tuple[int, dict[str, Any]]] = []
    ledger.execute(population())
    ledger.execute(
        cmd("threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target=2000)
    )
    for i in range(60):
        # alternately met and not met, and a flag raised and rescinded along the way
        if i % 10 == 3:
            command = cmd("quality_failure_flagged", flag_id=f"QF-{i}", description="x")
        elif i % 10 == 6:
            command = cmd("quality_failure_rescinded", flag_id=f"QF-{i - 3}")
        else:
            command = cmd(
                "measure_submitted",
                measure="pyll",
                criterion="pyll-rate",
                period=YEAR,
                value=1990 + (i % 3) * 10,
            )
        receipt = ledger.execute(command)
        captured.append((receipt.position, ledger.decision("06F", SCHEME).document))
    assert ledger.stream_version("06F", SCHEME) == 63
    for position, document in captured:
        assert ledger.decision("06F", SCHEME, position=position).document == document


def test_a_position_left_unused_by_a_lost_race_still_replays(ledger: QPLedger) -> None:
    """A write that loses a race is rolled back; on PostgreSQL its log position (a
    sequence value) is used up and never stored. Every position up to the head must
    still replay: "--position: only events at or before that log position"."""
    first = ledger.execute(population())
    # Lose a race deterministically: a copy of the record taken before another write.
    stale = ledger.repository.get(stream_id("06F", SCHEME))
    second = ledger.execute(cmd("quality_failure_flagged", flag_id="QF-1", description="x"))
    racing = parse_command(cmd("quality_failure_flagged", flag_id="QF-2", description="y"))
    racing.apply_to(stale, "racer", None)
    with pytest.raises(IntegrityError):
        ledger.save(stale)
    third = ledger.execute(cmd("quality_failure_rescinded", flag_id="QF-1"))
    head = ledger.max_position()
    assert head == third.position
    recorded = {0: None, **{e["position"]: e["recorded_at"] for e in ledger.history("06F", SCHEME)}}
    assert [recorded[r.position] for r in (first, second, third)] == [
        first.recorded_at,
        second.recorded_at,
        third.recorded_at,
    ]
    for position in range(head + 1):
        doc = ledger.decision("06F", SCHEME, position=position).document
        assert doc["position"] == position
        # the moment of the last event at or before the position
        assert doc["as_of"] == recorded[max(p for p in recorded if p <= position)]
        assert doc["gates"][0]["open"] is not (second.position <= position < third.position)


def test_a_recorded_time_handed_out_by_the_ledger_can_always_be_replayed(
    database_url: str,
) -> None:
    """Two API workers on one database, the writer's clock 2 s ahead of the reader's."""
    writer, reader = QPLedger(database_url), QPLedger(database_url)
    try:
        writer.store.clock = lambda: now_us() + 2_000_000
        receipt = writer.execute(population())
        doc = reader.decision("06F", SCHEME, as_of=receipt.recorded_at).document
        assert doc["position"] == receipt.position
    finally:
        writer.close()
        reader.close()
