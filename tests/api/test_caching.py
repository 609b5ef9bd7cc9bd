"""Immutable reads computed once (issue 12, item 1): decisions and report pages, over HTTP.

On SQLite and PostgreSQL: a kept body is byte for byte the body a cold
computation serves, and matches the OpenAPI document; If-None-Match is
answered with 304 from what is kept; a pinned position is ``immutable``; a
write (from this process or another) moves "now" on, and If-Match on writes
keeps its meaning; report pages are kept per read-model position.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from ledger.demo.year import demo_commands
from ledger.projections import ReadModels
from tests.api.apikit import BODIES, RECORD, SCHEME, body, build, command, ledger_of, project

DEMO_CCGS = 2
DECISION = "/ccgs/{ccg}/schemes/{scheme}/decision"
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"


def seed(ledger: Any) -> list[str]:
    commands = demo_commands(limit=DEMO_CCGS)
    for c in commands:
        ledger.execute(c, actor="board#demo")
    return sorted({c["ccg"] for c in commands})


def test_every_served_decision_is_the_cold_one_and_matches_the_document(
    api_app, client, headers, ledger
) -> None:
    codes = seed(ledger)
    board = headers("board")
    operation = schemathesis.openapi.from_wsgi("/openapi.json", api_app)[DECISION]["GET"]
    head = ledger.max_position()
    points: list[dict[str, Any]] = [{}]
    points += [{"position": p} for p in range(0, head + 1, max(1, head // 12))]
    points.append({"as_of": ledger.resolve_point(position=head // 2)[1]})
    points.append({"as_of": "2014-01-01T00:00:00Z"})  # before the log: 404, also documented
    served = 0
    for ccg in codes:
        for point in points:
            path = f"/ccgs/{ccg}/schemes/{SCHEME}/decision"
            first = client.get(path, query_string=point, headers=board)
            warm = client.get(path, query_string=point, headers=board)
            ledger.decision_cache.clear()
            cold = client.get(path, query_string=point, headers=board)
            assert first.status_code == warm.status_code == cold.status_code
            assert first.get_data() == warm.get_data() == cold.get_data()
            operation.validate_response(first)
            if first.status_code == 200:
                served += 1
                assert first.headers["ETag"] == warm.headers["ETag"] == cold.headers["ETag"]
                expected = ledger.determinations.decision(ccg, SCHEME, **point).document
                assert body(first) == expected
                pinned = "position" in point
                assert first.headers["Cache-Control"] == (IMMUTABLE if pinned else REVALIDATE)
    assert served > len(codes) * 5


def test_304_comes_from_what_is_kept(client, headers, ledger, monkeypatch) -> None:
    seed(ledger)
    board = headers("board")
    path = f"/ccgs/{seed_code(ledger)}/schemes/{SCHEME}/decision"
    position = ledger.max_position() - 3
    pinned = client.get(path, query_string={"position": position}, headers=board)
    now = client.get(path, headers=board)
    assert pinned.status_code == now.status_code == 200

    def no_recomputing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decision recomputed")

    monkeypatch.setattr(ledger, "decision", no_recomputing)
    monkeypatch.setattr(ledger.determinations, "decision", no_recomputing)
    for first, point in ((pinned, {"position": position}), (now, {})):
        tag = first.headers["ETag"]
        again = client.get(path, query_string=point, headers={**board, "If-None-Match": tag})
        assert again.status_code == 304 and again.get_data() == b""
        assert again.headers["ETag"] == tag
        assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
        full = client.get(path, query_string=point, headers=board)
        assert full.get_data() == first.get_data()
    assert pinned.headers["Cache-Control"] == IMMUTABLE
    assert now.headers["Cache-Control"] == REVALIDATE


def seed_code(ledger: Any) -> str:
    return sorted({c["ccg"] for c in demo_commands(limit=DEMO_CCGS)})[0]


def test_a_write_moves_now_on_and_if_match_keeps_its_meaning(client, headers, ledger) -> None:
    board, ccg = headers("board"), headers("ccg")
    values = f"{RECORD}/measure-values"
    opened = client.post(f"{RECORD}/population", json=BODIES["population"], headers=board)
    assert opened.status_code == 201
    before = client.get(f"{RECORD}/decision", headers=ccg)
    tag = before.headers["ETag"]
    written = client.post(values, json=BODIES["measure-values"], headers={**ccg, "If-Match": tag})
    assert written.status_code == 201
    after = client.get(f"{RECORD}/decision", headers={**ccg, "If-None-Match": tag})
    assert after.status_code == 200
    assert after.json["position"] == written.json["position"] > before.json["position"]
    assert f"/v{written.json['version']}/" in after.headers["ETag"]
    # The kept ETag of the old "now" (and of the same point pinned) is stale for writes.
    pinned = client.get(
        f"{RECORD}/decision", query_string={"position": before.json["position"]}, headers=ccg
    )
    assert pinned.headers["ETag"] == tag and pinned.get_data() == before.get_data()
    stale = client.post(values, json=BODIES["measure-values"], headers={**ccg, "If-Match": tag})
    assert stale.status_code == 412
    fresh = client.post(
        values, json=BODIES["measure-values"], headers={**ccg, "If-Match": after.headers["ETag"]}
    )
    assert fresh.status_code == 201


def test_writes_from_another_process_are_seen(api_app, client, headers, ledger) -> None:
    board = headers("board")
    ledger.execute(command("population_recorded", population=100, source="ONS"), actor="b#1")
    first = client.get(f"{RECORD}/decision", headers=board)
    other = build(ledger.database_url)
    try:
        ledger_of(other).execute(
            command("population_recorded", population=200, source="ONS"), actor="b#2"
        )
    finally:
        ledger_of(other).close()
    later = client.get(f"{RECORD}/decision", headers=board)
    assert (first.json["population"], later.json["population"]) == (100, 200)
    assert later.json["position"] > first.json["position"]
    # A position the other process wrote is known valid, and answered.
    at = client.get(
        f"{RECORD}/decision", query_string={"position": later.json["position"]}, headers=board
    )
    assert at.get_data() == later.get_data()


def test_the_document_names_the_caching_headers(client) -> None:
    spec = client.get("/openapi.json").json
    responses = spec["paths"][DECISION]["get"]["responses"]
    for status in ("200", "304"):
        assert {"ETag", "Cache-Control"} <= set(responses[status]["headers"])
    assert "immutable" in responses["200"]["headers"]["Cache-Control"]["description"]


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_report_pages_are_kept_per_read_model_position(
    api_app, client, headers, ledger, monkeypatch, accept
) -> None:
    seed(ledger)
    project(ledger)
    reporter = {**headers("reporter"), "Accept": accept}
    path = f"/reports/decisions?scheme={SCHEME}&page_size=1"
    first = client.get(path, headers=reporter)
    assert first.status_code == 200

    def no_query(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read model queried")

    monkeypatch.setattr(ReadModels, "decisions", no_query)
    warm = client.get(path, headers=reporter)
    assert warm.get_data() == first.get_data()
    for name in ("Content-Type", "X-Pagination", "Link", "X-Projection-Position", "Vary"):
        assert warm.headers.get(name) == first.headers.get(name), name
    monkeypatch.undo()
    api_app.extensions["qp_report_bodies"].clear()
    cold = client.get(path, headers=reporter)
    assert cold.get_data() == first.get_data()
    # A new position: the page is read again and says so.
    ledger.execute(
        command("population_recorded", seed_code(ledger), population=1, source="ONS"),
        actor="board#t",
    )
    project(ledger)
    moved = client.get(path, headers=reporter)
    assert int(moved.headers["X-Projection-Position"]) > int(first.headers["X-Projection-Position"])
    assert moved.get_data() != first.get_data()
