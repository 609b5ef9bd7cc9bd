"""The reporting API (api/views/reports.py) on both backends: filters, sorting, paging, CSV,
read-your-writes, and who may read it."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.projections import PROJECTIONS, ProjectorGroup
from tests.projections.projkit import SCHEME, Harness, bearer, demo, reports_app

#: The roles the reports are meant for (docs/projections.md).
REPORT_READERS = ("reporter", "board", "auditor")


@pytest.fixture
def app(harness: Harness) -> Iterator[Flask]:
    yield from reports_app({"QP_LEDGER_DATABASE_URL": harness.url}, harness.ledger)


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Iterator[Flask]:
    """For what is pure HTTP (query validation), not worth a second backend."""
    h = Harness(sqlite_url)
    yield from reports_app({"QP_LEDGER_DATABASE_URL": h.url}, h.ledger)
    h.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def reporter(app: Flask) -> dict[str, str]:
    return bearer(app, "reporter")


@pytest.fixture
def projected(harness: Harness) -> Harness:
    harness.load(demo(5))
    harness.project()
    return harness


def get(client: FlaskClient, url: str, headers: dict[str, str], **extra: Any) -> Any:
    return client.get(url, headers={**headers, **extra})


def rows_of(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def test_decisions_filter_sort_and_page(
    client: FlaskClient, reporter: dict[str, str], projected: Harness
) -> None:
    r = get(client, f"/reports/decisions?scheme={SCHEME}&page_size=3&sort=-payable_pence", reporter)
    assert r.status_code == 200, r.json
    pages = json.loads(r.headers["X-Pagination"])
    assert pages == {"total": 5, "total_pages": 2, "first_page": 1, "last_page": 2, "page": 1,
                     "next_page": 2}  # fmt: skip
    assert int(r.headers["X-Projection-Position"]) == projected.ledger.max_position()
    assert 'rel="next"' in r.headers["Link"] and "page=2" in r.headers["Link"]
    everyone: list[dict[str, Any]] = []
    for page in (1, 2):
        r = get(client, f"/reports/decisions?page_size=3&sort=-payable_pence&page={page}", reporter)
        everyone += r.json
    assert len(everyone) == 5 == len({d["ccg"] for d in everyone})
    payables = [d["payable_pence"] for d in everyone]
    assert payables == sorted(payables, reverse=True)
    for d in everyone:
        assert d["payable_pence"] == projected.ledger.decision(d["ccg"], SCHEME).payable_pence
    # beyond the last page: an empty page, still with the totals
    r = get(client, "/reports/decisions?page=9&page_size=3", reporter)
    assert r.status_code == 200 and r.json == []
    assert json.loads(r.headers["X-Pagination"])["total"] == 5
    assert "page" not in json.loads(r.headers["X-Pagination"])
    # filters
    one = everyone[0]
    for query, check in (
        (
            f"area_team={one['area_team_code']}",
            lambda d: d["area_team_code"] == one["area_team_code"],
        ),
        (f"region={one['region_code']}", lambda d: d["region_code"] == one["region_code"]),
        ("status=final", lambda d: d["status"] == "final"),
    ):
        r = get(client, f"/reports/decisions?{query}&page_size=100", reporter)
        expected = [d["ccg"] for d in everyone if check(d)]
        assert sorted(d["ccg"] for d in r.json) == sorted(expected), query
    # sorting by a column with ties keeps a stable order (then scheme, then CCG)
    r = get(client, "/reports/decisions?sort=status&page_size=100", reporter)
    keys = [(d["status"], d["ccg"]) for d in r.json]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("sort=nonsense", "sort"),
        ("status=paid", "status"),
        ("area_team=E39999999", "area_team"),
        ("scheme=qp-1999-00", "scheme"),
        ("colour=blue", "colour"),
        ("min_position=-1", "min_position"),
    ],
)
def test_bad_queries_are_refused_naming_the_field(
    sqlite_app: Flask, query: str, field: str
) -> None:
    r = get(sqlite_app.test_client(), f"/reports/decisions?{query}", bearer(sqlite_app, "reporter"))
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert field in {e["field"] for e in r.json["errors"]}


def test_csv_has_the_same_rows_and_columns_as_json(
    client: FlaskClient, reporter: dict[str, str], projected: Harness
) -> None:
    url = "/reports/decisions?page_size=4&page=2&sort=ccg"
    as_json = get(client, url, reporter).json
    r = get(client, url, reporter, Accept="text/csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8; header=present"
    assert r.headers["X-Pagination"] and r.headers["Vary"] == "Accept"
    text = r.get_data(as_text=True)
    assert text.endswith("\r\n")
    rows = rows_of(text)
    assert [row["ccg"] for row in rows] == [d["ccg"] for d in as_json]
    assert list(rows[0]) == list(as_json[0])  # same columns, same order
    for row, d in zip(rows, as_json, strict=True):
        assert row["payable_pence"] == str(d["payable_pence"])
        assert row["ccg_name"] == d["ccg_name"]  # commas in names survive quoting
        assert row["quality_gate_open"] in ("true", "false")
    # a name with a comma is quoted on the wire
    all_rows = get(client, "/reports/decisions?page_size=100", reporter, Accept="text/csv")
    assert '"NHS Durham Dales, Easington and Sedgefield"' in all_rows.get_data(as_text=True)
    # content negotiation by quality
    prefer_csv = get(client, url, reporter, Accept="application/json;q=0.5, text/csv")
    assert prefer_csv.mimetype == "text/csv"
    prefer_json = get(client, url, reporter, Accept="text/csv;q=0.1, application/json")
    assert prefer_json.mimetype == "application/json"
    # an empty result is the header row alone
    empty = get(client, "/reports/decisions?page=50", reporter, Accept="text/csv")
    lines = empty.get_data(as_text=True).split("\r\n")
    assert lines[0].startswith("scheme,ccg,ccg_name") and lines[1:] == [""]


def test_summaries_timeline_attainment_and_the_decision_document(
    client: FlaskClient, reporter: dict[str, str], projected: Harness
) -> None:
    ledger = projected.ledger
    nation = get(client, f"/reports/summaries?scheme={SCHEME}", reporter).json
    assert len(nation) == 1 and nation[0]["code"] == "E92000001"
    total = sum(ledger.decision(c, SCHEME).payable_pence for c in {x["ccg"] for x in demo(5)})
    assert nation[0]["payable_pence"] == total
    assert nation[0]["share_of_maximum_paid"] == format(
        round(total / nation[0]["maximum_pence"], 4), ".4f"
    )
    teams = get(client, "/reports/summaries?group_by=area_team", reporter)
    assert sum(t["payable_pence"] for t in teams.json) == total
    as_csv = get(client, "/reports/summaries?group_by=region", reporter, Accept="text/csv")
    assert {r["level"] for r in rows_of(as_csv.get_data(as_text=True))} == {"region"}

    timeline = get(client, f"/reports/ccgs/00C/timeline?scheme={SCHEME}", reporter)
    assert timeline.status_code == 200 and timeline.json[0]["event_type"] == "record_opened"
    assert get(client, f"/reports/ccgs/99X/timeline?scheme={SCHEME}", reporter).status_code == 404
    never = get(client, f"/reports/ccgs/06F/timeline?scheme={SCHEME}", reporter)
    assert never.status_code == 200 and never.json == []
    missing = get(client, "/reports/ccgs/00C/timeline", reporter)
    assert missing.status_code == 422

    document = get(client, f"/reports/ccgs/00C/decision?scheme={SCHEME}", reporter)
    assert document.status_code == 200
    body = json.loads(document.get_data(as_text=True))  # plain floats, as the ledger's own
    assert body == ledger.decision("00C", SCHEME, position=body["position"]).document
    assert get(client, f"/reports/ccgs/06F/decision?scheme={SCHEME}", reporter).status_code == 404

    attainment = get(client, "/reports/attainment?kind=measure&page_size=100", reporter).json
    assert {a["item"] for a in attainment} == {
        "pyll", "avoidable-emergency-admissions", "friends-and-family", "hcai",
        "local-1", "local-2", "local-3",
    }  # fmt: skip
    assert all(a["met"] + a["not_met"] + a["pending"] == 5 for a in attainment)
    north = get(client, "/reports/attainment?group_by=region&code=E40000001", reporter).json
    assert north and all(a["code"] == "E40000001" for a in north)

    status = get(client, "/reports/status", reporter).json
    assert status["head"] == ledger.max_position()
    assert set(status["projections"]) == set(PROJECTIONS)


def test_min_position_waits_for_the_projector_or_answers_503(
    client: FlaskClient, reporter: dict[str, str], projected: Harness
) -> None:
    head = projected.ledger.max_position()
    assert get(client, f"/reports/decisions?min_position={head}", reporter).status_code == 200
    # A write the read models have not seen, and no projector running: 503, try again.
    receipt = projected.ledger.execute(
        {"type": "population_recorded", "ccg": "06F", "scheme": SCHEME, "population": 449953,
         "source": "ONS"},
        actor="test",
    )  # fmt: skip
    started = time.monotonic()
    r = get(client, f"/reports/decisions?min_position={receipt.position}", reporter)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert time.monotonic() - started >= 0.25  # it waited (QP_LEDGER_REPORTS_WAIT_SECONDS)
    assert r.json["code"] == "projection-behind"
    # With a projector running, the same request sees its own write.
    group = ProjectorGroup(projected.ledger, projected.db, list(PROJECTIONS))
    group.start()
    try:
        client.application.config["QP_LEDGER_REPORTS_WAIT_SECONDS"] = 10
        r = get(
            client, f"/reports/decisions?min_position={receipt.position}&page_size=100", reporter
        )
        assert r.status_code == 200
        assert "06F" in {d["ccg"] for d in r.json}
        assert int(r.headers["X-Projection-Position"]) >= receipt.position
    finally:
        group.stop()
        group.join(10)


def test_not_built_yet_is_503(
    client: FlaskClient, reporter: dict[str, str], harness: Harness
) -> None:
    r = get(client, "/reports/summaries", reporter)
    assert r.status_code == 503 and r.json["code"] == "not-ready"


def test_who_may_read_reports(client: FlaskClient, app: Flask, projected: Harness) -> None:
    reporter = bearer(app, "reporter")
    assert get(client, "/reports/decisions", {}).status_code == 401
    for role in REPORT_READERS:
        assert get(client, "/reports/decisions", bearer(app, role)).status_code == 200, role
    assert get(client, "/reports/decisions", bearer(app, "ccg", "00C")).status_code == 403
    # A reporter reads the read models and nothing of the log itself.
    record = f"/ccgs/00C/schemes/{SCHEME}"
    assert get(client, f"{record}/history", reporter).status_code == 403
    assert get(client, f"{record}/decision", reporter).status_code == 403


def test_the_openapi_document_describes_the_reports(client: FlaskClient, app: Flask) -> None:
    spec = client.get("/openapi.json").json
    listing = spec["paths"]["/reports/decisions"]["get"]
    assert set(listing["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert {p["name"] for p in listing["parameters"]} >= {"scheme", "sort", "page", "min_position"}
