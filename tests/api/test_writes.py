"""Writes: exact numbers, idempotent retries, If-Match, and concurrent writers."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from ledger.domain.record import stream_id
from tests.api.apikit import BODIES, CCG, RECORD, SCHEME, headers_factory

VALUES = f"{RECORD}/measure-values"


def test_an_import_line_can_be_posted_unchanged(client, headers, ledger) -> None:
    line = {
        "type": "measure_submitted",
        "ccg": CCG,
        "scheme": SCHEME,
        **BODIES["measure-values"],
        "reason": "Q4 return",
    }
    r = client.post(VALUES, json=line, headers=headers("ccg"))
    assert r.status_code == 201
    assert r.json["type"] == "measure_submitted"
    assert ledger.history(CCG, SCHEME)[-1]["reason"] == "Q4 return"
    r = client.post(VALUES, json={**line, "type": "threshold_agreed"}, headers=headers("ccg"))
    assert r.status_code == 422
    assert r.json["errors"][0] == {
        "field": "type",
        "allowed": ["measure_submitted"],
        "message": "'threshold_agreed' does not match the path",
    }


def test_numbers_stay_exact(client, headers, ledger) -> None:
    """Parsed as Decimal, never float: 15 significant digits go in and come out unchanged."""
    text = (
        '{"measure": "pyll", "criterion": "pyll-rate", "period": "2013-14", '
        '"value": 1990.12345678901}'
    )
    r = client.post(VALUES, data=text, content_type="application/json", headers=headers("ccg"))
    assert r.status_code == 201
    record = ledger.repository.get(stream_id(CCG, SCHEME))
    (stored,) = [v["value"] for v in record.values.values()]
    assert stored == Decimal("1990.12345678901")
    page = client.get(f"{RECORD}/history", headers=headers("ccg")).get_data(as_text=True)
    assert '"value":1990.12345678901' in page
    # beyond what stays exact, the ledger's own rule refuses it (and says why)
    too_precise = text.replace("1990.12345678901", "1990.123456789012345678901")
    r = client.post(
        VALUES, data=too_precise, content_type="application/json", headers=headers("ccg")
    )
    assert r.status_code == 422
    assert r.json["errors"][0]["field"] == "value"
    assert ledger.stream_version(CCG, SCHEME) == 2


def test_an_idempotent_retry_stores_one_event(client, headers, ledger) -> None:
    retry = {**headers("ccg"), "Idempotency-Key": "q4-return-pyll"}
    first = client.post(VALUES, json=BODIES["measure-values"], headers=retry)
    again = client.post(VALUES, json=BODIES["measure-values"], headers=retry)
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [e["type"] for e in ledger.history(CCG, SCHEME)] == [
        "record_opened",
        "measure_submitted",
    ]


def test_the_same_key_with_another_body_is_refused(client, headers, ledger) -> None:
    retry = {**headers("ccg"), "Idempotency-Key": "k-1"}
    assert client.post(VALUES, json=BODIES["measure-values"], headers=retry).status_code == 201
    position = ledger.max_position()
    r = client.post(VALUES, json={**BODIES["measure-values"], "value": 1}, headers=retry)
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert r.json["code"] == "idempotency-key-reused"
    assert r.json["errors"][0]["field"] == "Idempotency-Key"
    assert ledger.max_position() == position


def test_keys_belong_to_the_token(client, headers, api_app, ledger) -> None:
    other = headers_factory(api_app)("ccg")  # a second token for the same CCG
    key = {"Idempotency-Key": "shared"}
    assert (
        client.post(
            VALUES, json=BODIES["measure-values"], headers={**headers("ccg"), **key}
        ).status_code
        == 201
    )
    r = client.post(VALUES, json=BODIES["measure-values"], headers={**other, **key})
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert ledger.stream_version(CCG, SCHEME) == 3


def test_an_unusable_key_is_refused(client, headers, ledger) -> None:
    r = client.post(
        VALUES,
        json=BODIES["measure-values"],
        headers={**headers("ccg"), "Idempotency-Key": "x" * 201},
    )
    assert r.status_code == 422
    assert r.json["errors"][0]["field"] == "Idempotency-Key"
    assert ledger.max_position() == 0


def test_if_match_makes_a_write_conditional(client, headers, ledger) -> None:
    ccg = headers("ccg")
    empty = client.get(f"{RECORD}/history", headers=ccg)
    assert empty.json["total"] == 0
    first = client.post(
        VALUES, json=BODIES["measure-values"], headers={**ccg, "If-Match": empty.headers["ETag"]}
    )
    assert first.status_code == 201  # a record not yet opened matches its empty ETag
    decision = client.get(f"{RECORD}/decision", headers=ccg)
    etag = decision.headers["ETag"]
    assert f"/v{first.json['version']}/" in etag
    ok = client.post(VALUES, json=BODIES["measure-values"], headers={**ccg, "If-Match": etag})
    assert ok.status_code == 201
    stale = client.post(VALUES, json=BODIES["measure-values"], headers={**ccg, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json"
    assert stale.json["code"] == "precondition-failed"
    other = client.post(
        VALUES,
        json=BODIES["measure-values"],
        headers={**ccg, "If-Match": '"00C/qp-2013-14/v3/abc"'},
    )
    assert other.status_code == 412
    assert ledger.stream_version(CCG, SCHEME) == 3


def test_etags_and_if_none_match(client, headers) -> None:
    ccg = headers("ccg")
    # A record with no events has no decision (404, no ETag): give it one first.
    assert client.post(VALUES, json=BODIES["measure-values"], headers=ccg).status_code == 201
    for path in (f"{RECORD}/decision", f"{RECORD}/history"):
        first = client.get(path, headers=ccg)
        etag = first.headers["ETag"]
        again = client.get(path, headers={**ccg, "If-None-Match": etag})
        assert again.status_code == 304 and again.headers["ETag"] == etag
    client.post(VALUES, json=BODIES["measure-values"], headers=ccg)
    changed = client.get(f"{RECORD}/history", headers={**ccg, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


@pytest.mark.slow
def test_sixteen_concurrent_writers_lose_nothing(api_app, ledger) -> None:
    """16 threads, each its own client, post to one CCG: every 201 is one stored event.

    (A writer that still lost every race would get 409 with Retry-After, and
    must then have stored nothing; with the API's backoff none should.)
    """
    headers = headers_factory(api_app)("ccg")
    acknowledged: list[int] = []
    failures: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def writer(n: int) -> None:
        client = api_app.test_client()
        start.wait()
        for i in range(5):
            body = {**BODIES["measure-values"], "value": n * 100 + i}
            r = client.post(VALUES, json=body, headers=headers)
            with lock:
                if r.status_code == 201:
                    acknowledged.append(r.json["position"])
                else:
                    failures.append((r.status_code, r.get_data(as_text=True)))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = ledger.history(CCG, SCHEME)
    # every acknowledged write is stored, once, at the position it was acknowledged at
    assert sorted(acknowledged) == [e["position"] for e in events[1:]]
    assert failures == []
    assert len(acknowledged) == 80
    assert len([e for e in events if e["type"] == "measure_submitted"]) == 80
    assert sorted(e["fields"]["value"] for e in events[1:]) == sorted(
        n * 100 + i for n in range(16) for i in range(5)
    )
