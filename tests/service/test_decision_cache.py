"""Decisions computed once (ledger/service/decision_cache.py), on the in-memory store.

A kept answer must be exactly the answer a cold computation gives, byte for
byte, at every position and instant; a write must move "now" on; the caches
stay within their bounds; and a warm read asks the store for nothing but the
log head.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.demo.year import demo_commands
from ledger.domain.clock import us_to_iso
from ledger.domain.errors import InvalidCommand
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import decide
from ledger.service.application import QPLedger
from ledger.service.decision_cache import DecisionCache, Memo

from .kit import SCHEME, SECOND, population

DEMO_CCGS = 3


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


@pytest.fixture(scope="module")
def demo() -> Iterator[QPLedger]:
    """A small demo year (three CCGs), written once for the module (reads only)."""
    app = QPLedger("memory:")
    for command in demo_commands(limit=DEMO_CCGS):
        app.execute(command, actor="board#demo")
    yield app
    app.close()


def codes(app: QPLedger) -> list[str]:
    return sorted({c["ccg"] for c in demo_commands(limit=DEMO_CCGS)})


def cold(app: QPLedger, ccg: str, **point: Any) -> str:
    """The decision computed from scratch: facts, engine, log head; nothing kept."""
    app.decision_cache.clear()
    facts = app.facts(ccg, SCHEME, **point)
    document = decide(get_scheme(SCHEME), facts).document
    size, root = app.log_store.log_head_at(facts.position)
    document["log"] = {"tree_size": size, "root_hash": "sha256:" + root.hex()}
    app.decision_cache.clear()
    return text(document)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_kept_decisions_are_the_cold_ones_at_every_position(demo: QPLedger, data: Any) -> None:
    head = demo.max_position()
    reads = data.draw(
        st.lists(
            st.tuples(st.sampled_from(codes(demo)), st.integers(0, head) | st.none()),
            min_size=1,
            max_size=12,
        )
    )
    demo.decision_cache.clear()
    warm: list[tuple[str, int | None, str]] = []
    for ccg, position in reads:  # each read warms the caches for the later ones
        warm.append((ccg, position, text(demo.decision(ccg, SCHEME, position=position).document)))
    for ccg, position, served in warm:
        again = text(demo.decision(ccg, SCHEME, position=position).document)
        assert again == served == cold(demo, ccg, position=position)


def test_kept_decisions_as_of_an_instant_are_the_cold_ones(demo: QPLedger) -> None:
    head = demo.max_position()
    ccg = codes(demo)[0]
    for position in range(1, head + 1, max(1, head // 15)):
        recorded = demo.log_store.recorded_us(position)
        assert recorded is not None
        for instant in (us_to_iso(recorded), us_to_iso(recorded - 1)):
            first = text(demo.decision(ccg, SCHEME, as_of=instant).document)
            again = text(demo.decision(ccg, SCHEME, as_of=instant).document)
            assert first == again == cold(demo, ccg, as_of=instant)


def test_the_same_record_version_read_at_another_position_is_restamped(demo: QPLedger) -> None:
    demo.decision_cache.clear()
    ccg = codes(demo)[0]
    head = demo.max_position()
    version = demo.stream_version_at(ccg, SCHEME, head)
    # The last position where the record stood at that version, before the head.
    earlier = next(
        p for p in range(head - 1, 0, -1) if demo.stream_version_at(ccg, SCHEME, p) != version
    )
    at = next(p for p in range(earlier + 1, head + 1))
    one = demo.decision(ccg, SCHEME, position=at).document
    other = demo.decision(ccg, SCHEME, position=head).document
    assert len(demo.decision_cache.documents) == 1  # one version, one document
    assert (one["position"], other["position"]) == (at, head)
    assert text(other) == cold(demo, ccg, position=head)
    assert one["inputs_digest"] == other["inputs_digest"]


def test_a_write_moves_now_on(ledger: QPLedger) -> None:
    ledger.execute(population(size=100_000))
    before = ledger.decision("06F", SCHEME).document
    ledger.execute(population(size=200_000))
    after = ledger.decision("06F", SCHEME).document
    assert (before["population"], after["population"]) == (100_000, 200_000)
    assert after["position"] > before["position"]
    assert after["log"]["tree_size"] > before["log"]["tree_size"]
    # The earlier point still answers as it did.
    assert ledger.decision("06F", SCHEME, position=before["position"]).document == before


def test_a_warm_read_now_asks_the_store_only_for_the_head(
    ledger: QPLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.execute(population(size=100_000))
    ledger.execute(population("00C"))
    expected = text(ledger.decision("06F", SCHEME).document)
    pinned = text(ledger.decision("06F", SCHEME, position=2).document)
    asked: list[str] = []
    store = ledger.log_store
    for name in ("recorded_us", "stream_version_at", "log_head_at", "locate", "position_at"):

        def refuse(*args: Any, _name: str = name) -> Any:
            asked.append(_name)
            raise AssertionError(f"{_name} asked again")

        monkeypatch.setattr(store, name, refuse)
    monkeypatch.setattr(ledger.repository, "get", lambda *a, **k: pytest.fail("record loaded"))
    assert text(ledger.decision("06F", SCHEME).document) == expected
    assert text(ledger.decision("06F", SCHEME, position=2).document) == pinned
    assert asked == []


def test_a_position_past_the_head_is_still_refused_after_reads(ledger: QPLedger) -> None:
    ledger.execute(population())
    ledger.decision("06F", SCHEME)
    with pytest.raises(InvalidCommand, match=r"beyond the end of the log \(2\)"):
        ledger.decision("06F", SCHEME, position=3)
    ledger.execute(population(size=5))
    assert ledger.decision("06F", SCHEME, position=3).document["population"] == 5


def test_an_instant_not_yet_final_is_not_kept(ledger: QPLedger, clock: Any) -> None:
    ledger.execute(population(size=100_000))
    later = us_to_iso(clock.now + 5 * SECOND)
    clock.now += 10 * SECOND  # "later" is past the last recorded time, before the clock
    assert ledger.decision("06F", SCHEME, as_of=later).document["population"] == 100_000
    assert len(ledger.decision_cache.instants) == 0
    # A write recorded before that instant (a slower clock elsewhere) is then seen.
    clock.now -= 8 * SECOND
    ledger.execute(population(size=200_000))
    clock.now += 8 * SECOND
    assert ledger.decision("06F", SCHEME, as_of=later).document["population"] == 200_000


def test_the_caches_are_bounded(demo: QPLedger) -> None:
    small = DecisionCache(documents=2, lookups=3)
    kept, demo.decision_cache = demo.decision_cache, small
    try:
        head = demo.max_position()
        for ccg in codes(demo):
            for position in range(0, head + 1, 7):
                served = text(demo.decision(ccg, SCHEME, position=position).document)
                for memo, bound in ((small.documents, 2), (small.versions, 3), (small.times, 3)):
                    assert len(memo) <= bound
                assert len(small.log_heads) <= 3
                assert served == cold(demo, ccg, position=position)
    finally:
        demo.decision_cache = kept


def test_memo_keeps_falsy_values_boxed_and_evicts_least_recently_used() -> None:
    memo: Memo[tuple[int]] = Memo(2)
    memo.put("a", (0,))
    memo.put("b", (1,))
    assert memo.get("a") == (0,)  # "a" is now the most recent
    memo.put("c", (2,))
    assert (memo.get("b"), memo.get("a"), memo.get("c")) == (None, (0,), (2,))
    assert len(memo) == 2 and memo.maxsize == 2


def test_memo_bounded_by_bytes_serves_but_does_not_keep_what_is_too_large() -> None:
    memo: Memo[bytes] = Memo(10, len)
    for i in range(20):
        memo.put(i, b"abcd")
        assert memo.currsize <= 10
    assert len(memo) == 2  # 2 x 4 bytes fit in 10
    assert memo.put("big", b"x" * 11) == b"x" * 11
    assert memo.get("big") is None
