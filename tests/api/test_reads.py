"""Reads: the decision over HTTP is the ledger's document, at any point; history pages."""

from __future__ import annotations

import json

from tests.api.apikit import BODIES, CCG, RECORD, SCHEME, body, command


def test_decision_over_http_equals_the_ledger_at_every_point(client, headers, ledger) -> None:
    board, ccg = headers("board"), headers("ccg")
    receipts = []
    for path, who in [
        ("population", board),
        ("measure-values", ccg),
        ("financial-position", ccg),
        ("constitution-results", board),
    ]:
        r = client.post(f"{RECORD}/{path}", json=BODIES[path], headers=who)
        assert r.status_code == 201
        receipts.append(r.json)
    ledger.execute(
        command(
            "threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target=2000
        ),
        actor="area-team:E39000015#t",
    )
    now = client.get(f"{RECORD}/decision", headers=ccg)
    assert body(now) == ledger.decision(CCG, SCHEME).document
    for receipt in receipts:
        by_position = client.get(f"{RECORD}/decision?position={receipt['position']}", headers=ccg)
        assert (
            body(by_position) == ledger.decision(CCG, SCHEME, position=receipt["position"]).document
        )
        by_time = client.get(
            f"{RECORD}/decision", query_string={"as_of": receipt["recorded_at"]}, headers=ccg
        )
        assert body(by_time) == ledger.decision(CCG, SCHEME, as_of=receipt["recorded_at"]).document
        assert by_time.json["position"] == receipt["position"]
    # the same JSON the CLI prints, numbers and all
    assert body(now) == json.loads(json.dumps(ledger.decision(CCG, SCHEME).document))


def test_the_decision_changes_when_a_value_arrives(client, headers, ledger) -> None:
    board, ccg = headers("board"), headers("ccg")
    client.post(f"{RECORD}/population", json=BODIES["population"], headers=board)
    ledger.execute(
        command(
            "threshold_agreed", measure="pyll", criterion="pyll-rate", baseline=2100, target=2000
        ),
        actor="area-team:E39000015#t",
    )
    before = client.get(f"{RECORD}/decision", headers=ccg).json
    pyll = next(c for c in before["components"] if c["measure"] == "pyll")
    assert pyll["met"] is None
    client.post(f"{RECORD}/measure-values", json=BODIES["measure-values"], headers=ccg)
    after = client.get(f"{RECORD}/decision", headers=ccg).json
    pyll = next(c for c in after["components"] if c["measure"] == "pyll")
    assert pyll["met"] is True
    assert after["earned_pence"] == before["earned_pence"] + pyll["earned_pence"]


def test_history_pages(client, headers, ledger) -> None:
    ccg = headers("ccg")
    for value in range(7):
        r = client.post(
            f"{RECORD}/measure-values",
            json={**BODIES["measure-values"], "value": value, "reason": f"r{value}"},
            headers=ccg,
        )
        assert r.status_code == 201
    pages, offset = [], 0
    while offset is not None:
        page = body(client.get(f"{RECORD}/history?offset={offset}&limit=3", headers=ccg))
        assert page["total"] == 8
        pages.append(page)
        offset = page["next_offset"]
    assert [len(p["events"]) for p in pages] == [3, 3, 2]
    events = [e for p in pages for e in p["events"]]
    assert events == json.loads(json.dumps(ledger.history(CCG, SCHEME)))
    assert [e["version"] for e in events] == list(range(1, 9))
    assert events[-1]["actor"].startswith(f"ccg:{CCG}#")
    assert events[-1]["fields"]["value"] == 6
    beyond = client.get(f"{RECORD}/history?offset=50", headers=ccg).json
    assert beyond["events"] == [] and beyond["next_offset"] is None


def test_reference_ccgs_filter_by_area_team_and_region(client, headers) -> None:
    reporter = headers("reporter")
    everyone = client.get("/reference/ccgs", headers=reporter).json
    assert everyone["count"] == 211 == len(everyone["ccgs"])
    area = client.get("/reference/ccgs?area_team=E39000015", headers=reporter).json
    assert {c["ods_code"] for c in area["ccgs"]} == {
        "03V",
        "04F",
        "04G",
        "06F",
        "06K",
        "06N",
        "06P",
    }
    region = client.get("/reference/ccgs?region=E40000002", headers=reporter).json
    assert {c["region_code"] for c in region["ccgs"]} == {"E40000002"}
    assert set(c["ods_code"] for c in area["ccgs"]) <= {c["ods_code"] for c in region["ccgs"]}
    both = client.get("/reference/ccgs?region=E40000001&area_team=E39000015", headers=reporter).json
    assert both == {"count": 0, "ccgs": []}
    one = client.get(f"/reference/ccgs/{CCG}", headers=reporter).json
    assert one["name"] == "NHS Bedfordshire" and one["registered_list"] == 449953


def test_reference_schemes(client, headers) -> None:
    schemes = client.get("/reference/schemes", headers=headers("reporter")).json["schemes"]
    ids = [s["id"] for s in schemes]
    assert SCHEME in ids
    qp = client.get(f"/reference/schemes/{SCHEME}", headers=headers("reporter")).json
    assert qp == next(s for s in schemes if s["id"] == SCHEME)
    shares = {m["id"]: m["share"] for m in qp["measures"]}
    assert shares["avoidable-emergency-admissions"] == "0.25"
    assert {s["id"] for s in qp["standards"]} == {
        "rtt-18-weeks",
        "ae-4-hours",
        "cancer-2-week-wait",
        "ambulance-cat-a-8-min",
    }


def test_health_and_readiness_need_no_token(client, ledger) -> None:
    health = client.get("/health").json
    assert health["status"] == "ok"
    # Nothing has projected this log yet: the read side says so, liveness does not fail.
    assert health["projections"]["status"] == "not-built"
    assert health["projections"]["head"] == ledger.max_position()
    assert client.get("/ready").json == {"status": "ready", "position": ledger.max_position()}


def test_not_ready_when_the_database_is_gone(sqlite_url, tmp_path) -> None:
    from tests.api.apikit import build

    app = build(sqlite_url)
    app.extensions["qp_ledger"].store.datastore.engine.dispose()
    import os

    os.remove(sqlite_url.removeprefix("sqlite:///"))
    os.mkdir(sqlite_url.removeprefix("sqlite:///"))  # a directory: SQLite cannot open it
    r = app.test_client().get("/ready")
    assert r.status_code == 503
    assert r.mimetype == "application/problem+json"
    assert r.json["code"] == "not-ready"
