"""A decision re-stamped from its kept JSON is byte for byte the one computed afresh.

Every write moves "now" for every record, so the API keeps each record
version's JSON cut around its moment fields (api/decision_bytes.py) and joins
in the new ``as_of``, ``position`` and ``log``: the body, its ETag and its
headers must be exactly what serialising the whole document gives.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from api.decision_bytes import fill, template
from api.etags import make_etag
from api.jsonio import dumps_exact
from tests.api.apikit import CCG, RECORD, SCHEME, command

OTHER = "00C"


def dumps(value: Any) -> str:
    return dumps_exact(value, sort_keys=False, separators=(",", ":"))


def test_the_pieces_join_into_exactly_the_whole_document() -> None:
    document = {
        "ccg": "06F",
        "as_of": "2026-01-01T00:00:00Z",
        "position": 12,
        "status": "provisional — \u00e9t\u00e9",
        "share": Decimal("0.125"),
        "log": {"tree_size": 12, "root_hash": "sha256:00"},
        "engine_version": "x",
    }
    pieces = template(document, dumps)
    assert pieces is not None
    for moment in [("2026-02-02T10:00:00.5Z", 99, {"tree_size": 99, "root_hash": "sha256:ff"})]:
        as_of, position, log = moment
        expected = dumps({**document, "as_of": as_of, "position": position, "log": log})
        assert fill(pieces, moment, dumps) == expected.encode("utf-8")
    assert template({"ccg": "06F"}, dumps) is None  # no moment fields: nothing to cut


def test_now_after_another_records_write_is_the_fresh_body(client, headers, ledger) -> None:
    board = headers("board")
    ledger.execute(command("population_recorded", population=449_953, source="ONS"))
    ledger.execute(command("population_recorded", OTHER, population=300_000, source="ONS"))
    first = client.get(f"{RECORD}/decision", headers=board)
    assert first.status_code == 200
    kept = ledger.decision_cache.templates
    assert len(kept) == 1  # the record version's JSON in pieces
    for value in (300_001, 300_002):  # "now" moves on; 06F's record does not
        head = ledger.execute(
            command("population_recorded", OTHER, population=value, source="ONS")
        ).position
        hits = kept.hits
        again = client.get(f"{RECORD}/decision", headers=board)
        assert kept.hits == hits + 1  # served from the pieces, not replayed
        fresh = ledger.determinations.decision(CCG, SCHEME, position=head).document
        expected = client.application.json.dumps(fresh).encode("utf-8")
        assert again.get_data() == expected
        version = ledger.stream_version_at(CCG, SCHEME, head)
        assert again.headers["ETag"] == f'"{make_etag(CCG, SCHEME, version, expected)}"'
        assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
        pinned = client.get(f"{RECORD}/decision", query_string={"position": head}, headers=board)
        assert pinned.get_data() == expected
    ledger.decision_cache.clear()  # and cold: the same bytes
    cold = client.get(f"{RECORD}/decision", headers=board)
    assert cold.get_data() == expected and cold.headers["ETag"] == again.headers["ETag"]
