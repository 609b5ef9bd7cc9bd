"""Helpers shared by the API tests: principals, valid bodies, token headers."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from api import create_app
from ledger.adapters.tokens import TokenStore
from ledger.projections import PROJECTIONS, ProjectorGroup, ReadModelDatabase
from ledger.service.application import QPLedger

CCG = "06F"  # NHS Bedfordshire, area team E39000015
OTHER_CCG = "00C"  # NHS Darlington, area team E39000002
AREA = "E39000015"
OTHER_AREA = "E39000002"
SCHEME = "qp-2013-14"
RECORD = f"/ccgs/{CCG}/schemes/{SCHEME}"

#: Who calls: a role and, for org roles, the organisation the token acts for.
PRINCIPALS: dict[str, tuple[str, str | None] | None] = {
    "anonymous": None,
    "ccg": ("ccg", CCG),
    "ccg-other": ("ccg", OTHER_CCG),
    "area-team": ("area-team", AREA),
    "area-team-other": ("area-team", OTHER_AREA),
    "board": ("board", None),
    "auditor": ("auditor", None),
    "reporter": ("reporter", None),
}


def build(database_url: str, **config: Any) -> Flask:
    if not database_url.startswith("sqlite"):
        # By default the key sits beside a SQLite file (a tmp dir here); for a server
        # database it would land in the working directory: use a tmp dir instead.
        key_dir = Path(tempfile.mkdtemp(prefix="qp-ledger-key-"))
        config.setdefault("QP_LEDGER_SIGNING_KEY_FILE", str(key_dir / "signing.key"))
    app = create_app({"QP_LEDGER_DATABASE_URL": database_url, "TESTING": True, **config})
    return app


def build_signing(database_url: str, key_dir: Path, origin: str) -> Flask:
    """An app that signs as ``origin`` with ``key_dir``/signing.key (the test's own key)."""
    return build(
        database_url,
        QP_LEDGER_SIGNING_KEY_FILE=str(key_dir / "signing.key"),
        QP_LEDGER_LOG_ORIGIN=origin,
    )


def until_closed(app: Flask) -> Iterator[Flask]:
    """An app fixture's body: yield ``app``, then close its ledger."""
    yield app
    ledger_of(app).close()


def ledger_of(app: Flask) -> QPLedger:
    ledger: QPLedger = app.extensions["qp_ledger"]
    return ledger


def tokens_of(app: Flask) -> TokenStore:
    store: TokenStore = app.extensions["qp_tokens"]
    return store


HeadersFor = Callable[[str], dict[str, str]]


def headers_factory(app: Flask) -> HeadersFor:
    made: dict[str, dict[str, str]] = {}

    def headers_for(principal: str) -> dict[str, str]:
        if principal not in made:
            spec = PRINCIPALS[principal]
            if spec is None:
                made[principal] = {}
            else:
                _, plaintext = tokens_of(app).create(spec[0], spec[1])
                made[principal] = {"Authorization": f"Bearer {plaintext}"}
        return made[principal]

    return headers_for


def command(kind: str, ccg: str = CCG, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ccg": ccg, "scheme": SCHEME, **fields}


#: A valid body for each write endpoint, as docs/contract.md commands (type/ccg/scheme
#: left to the path).
BODIES: dict[str, dict[str, Any]] = {
    "population": {"population": 449953, "source": "ONS mid-2012"},
    "local-measures": {
        "measures": [
            {
                "slot": "local-1",
                "name": "Falls in over-65s",
                "criterion": "falls-rate",
                "direction": "lower",
            },
            {
                "slot": "local-2",
                "name": "Dementia diagnosis",
                "criterion": "diagnosis-rate",
                "direction": "higher",
            },
            {
                "slot": "local-3",
                "name": "Smoking at delivery",
                "criterion": "smoking-rate",
                "direction": "lower",
            },
        ]
    },
    "thresholds": {"measure": "pyll", "criterion": "pyll-rate", "baseline": 2100.5, "target": 2000},
    "measure-values": {
        "measure": "pyll",
        "criterion": "pyll-rate",
        "period": "2013-14",
        "value": 1990.25,
    },
    "constitution-results": {"standard": "ae-4-hours", "period": "2013-14", "value": 0.96},
    "quality-failures": {"flag_id": "never-event-1", "description": "Wrong-site surgery"},
    "quality-failure-rescissions": {"flag_id": "already-flagged"},
    "financial-position": {"outturn": "balanced", "amount_pence": 0},
}


_flags = itertools.count(1)


def prepare(ledger: QPLedger, resource: str, ccg: str = CCG) -> dict[str, Any]:
    """A valid body for the resource, after making true what it needs (an active flag)."""
    body = dict(BODIES[resource])
    if resource == "quality-failures":
        body["flag_id"] = f"never-event-{next(_flags)}"
    if resource == "quality-failure-rescissions":
        body["flag_id"] = f"flagged-earlier-{next(_flags)}"
        ledger.execute(
            command(
                "quality_failure_flagged",
                ccg,
                flag_id=body["flag_id"],
                description="Flagged earlier",
            ),
            actor="board#setup",
        )
    return body


def fresh_postgres_url(config: pytest.Config) -> str:
    """An emptied PostgreSQL scratch database, via the root conftest (for wider-scoped fixtures).

    The root conftest is a pytest plugin, not an importable module, so it is
    found among the registered plugins; it skips (or fails under CI) as usual.
    """
    for plugin in config.pluginmanager.get_plugins():
        if str(getattr(plugin, "__file__", "")).endswith("tests/conftest.py"):
            plugin.require_postgres()
            plugin.reset_postgres()
            return str(plugin.POSTGRES_URL)
    raise RuntimeError("tests/conftest.py is not loaded")


def body(response: Any) -> Any:
    """A response's JSON as any client sees it (the test client's ``.json`` keeps Decimals)."""
    return json.loads(response.get_data(as_text=True))


def project(ledger: Any) -> None:
    """Bring every read model up to the log's head (as `qp-ledger project` would)."""
    db = ReadModelDatabase(ledger.database_url, ping=False)
    try:
        ProjectorGroup(ledger, db, list(PROJECTIONS)).catch_up()
    finally:
        db.dispose()
