"""Hostile bodies over HTTP: one 400/422 problem each, never a 500, nothing stored.

Issue 9, item 3: the bodies that crashed ``import`` (a lone surrogate escape,
JSON nested 3,000 deep) gave 500 over HTTP. The API reads bodies with the
importer's strict reader (ledger/domain/jsontext.py), so both refuse the same input
for the same reasons; each case runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from tests.api.apikit import BODIES, RECORD

PROBLEM = "application/problem+json"
FLAGS = f"{RECORD}/quality-failures"
THRESHOLDS = f"{RECORD}/thresholds"
THRESHOLD = '{"measure": "pyll", "criterion": "pyll-rate", "target": 2000, "baseline": '

#: (resource, who may write it, raw body, status, problem code, start of the detail)
CASES = [
    (
        FLAGS,
        "board",
        '{"flag_id": "QF-1", "description": "\\udc80"}',
        400,
        "malformed-json",
        "The body is not valid JSON: description: holds a lone surrogate (\\udc80), which is "
        "not a Unicode character; send text as valid UTF-8",
    ),
    (
        FLAGS,
        "board",
        '{"flag_id": "QF-1", "description": "x", "\\ud800": 1}',
        400,
        "malformed-json",
        "The body is not valid JSON: a field name holds a lone surrogate (\\ud800)",
    ),
    (
        FLAGS,
        "board",
        "[" * 3000 + "]" * 3000,
        400,
        "malformed-json",
        "The body is not valid JSON: JSON nested 3000 levels deep; the ledger reads at most 32",
    ),
    (
        FLAGS,
        "board",
        '{"flag_id": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}",
        400,
        "malformed-json",
        "The body is not valid JSON: JSON nested 3001 levels deep",
    ),
    (
        FLAGS,
        "board",
        '{"flag_id": "QF-1", "description": "x", "flag_id": "QF-2"}',
        400,
        "malformed-json",
        "The body is not valid JSON: duplicate key 'flag_id'",
    ),
    (
        FLAGS,
        "board",
        '{"flag_id": "QF-\\u0000", "description": "x"}',
        400,
        "malformed-json",
        "The body is not valid JSON: flag_id: holds the NUL character (\\u0000)",
    ),
    (
        THRESHOLDS,
        "area-team",
        THRESHOLD + "1" + "0" * 5000 + "}",
        400,
        "malformed-json",
        "The body is not valid JSON: baseline: a number 5001 characters long",
    ),
    (
        THRESHOLDS,
        "area-team",
        THRESHOLD + "NaN}",
        400,
        "malformed-json",
        "The body is not valid JSON: baseline: NaN is not a number",
    ),
    (
        THRESHOLDS,
        "area-team",
        THRESHOLD + "1e-400}",
        422,
        "invalid-command",
        "baseline: 1E-400 is too small: the ledger keeps 0 or numbers of at least 10^-12",
    ),
    (
        THRESHOLDS,
        "area-team",
        THRESHOLD + "1e99999999999}",
        422,
        "invalid-command",
        "baseline: 1E+99999999999 is too large",
    ),
]


@pytest.mark.parametrize(
    ("path", "who", "text", "status", "code", "detail"),
    CASES,
    ids=[
        "surrogate",
        "surrogate-key",
        "deep-array",
        "deep-object",
        "duplicate-key",
        "nul",
        "huge-integer",
        "nan",
        "tiny",
        "huge-exponent",
    ],
)
def test_a_hostile_body_is_one_problem_and_stores_nothing(
    client, headers, ledger, path, who, text, status, code, detail
) -> None:
    r = client.post(
        path,
        data=text.encode("utf-8"),
        content_type="application/json",
        headers=headers(who),
    )
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == PROBLEM
    body = r.json
    assert body["type"] == f"urn:qp-ledger:problem:{code}"
    assert body["status"] == status
    assert body["detail"].startswith(detail), body["detail"]
    assert ledger.max_position() == 0
    # and the same resource still takes a good body
    good = client.post(path, json=BODIES[path.rsplit("/", 1)[1]], headers=headers(who))
    assert good.status_code == 201, good.get_data(as_text=True)
    assert ledger.max_position() == 2  # the record's opening and the one event
