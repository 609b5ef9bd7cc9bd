"""Helpers for the read model tests: a ledger opened for following, its read models."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.demo.year import demo_commands
from ledger.projections import (
    PROJECTIONS,
    CheckReport,
    ProjectorGroup,
    ReadModelDatabase,
    ReadModels,
    check,
    open_followed_ledger,
)
from ledger.service.application import QPLedger

if TYPE_CHECKING:
    from flask import Flask

SCHEME = "qp-2013-14"


def as_ledger_returns(ledger: QPLedger, document: dict[str, Any]) -> dict[str, Any]:
    """A stored (engine) document plus what ``QPLedger.decision`` attaches, if anything."""
    out = dict(document)
    attach = getattr(ledger, "attach_log", None)
    if attach is not None:
        attach(out)
    return out


def reports_app(settings: dict[str, Any], ledger: QPLedger) -> Iterator[Flask]:
    """The API app on ``settings`` and ``ledger``, waiting at most 0.3 s for a report's position;
    its report reader is closed after."""
    from api import create_app
    from api.views import reports

    app = create_app({**settings, "TESTING": True, reports.WAIT_SETTING: 0.3}, ledger=ledger)
    yield app
    found = app.extensions.get("qp_ledger_reports")
    if found is not None:
        found.close()


def bearer(app: Flask, role: str, org: str | None = None) -> dict[str, str]:
    """The Authorization header of a new token for ``role`` (and ``org``)."""
    _, plaintext = app.extensions["qp_tokens"].create(role, org)
    return {"Authorization": f"Bearer {plaintext}"}


def demo(limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` CCGs' share of the demo year (interleaved by month)."""
    return demo_commands(limit=limit)


@dataclass
class Harness:
    url: str
    ledger: QPLedger = field(init=False)
    db: ReadModelDatabase = field(init=False)
    _read: ReadModels | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.ledger = open_followed_ledger(self.url)
        self.db = ReadModelDatabase(self.url)

    def load(self, commands: Iterable[dict[str, Any]], batch_size: int = 200) -> int:
        report = self.ledger.import_lines(
            (json.dumps(c) for c in commands), actor="test", batch_size=batch_size
        )
        assert report.rejected == 0, report.errors[:3]
        return report.last_position

    def project(
        self, names: Iterable[str] = tuple(PROJECTIONS), batch_size: int = 100
    ) -> dict[str, int]:
        group = ProjectorGroup(self.ledger, self.db, list(names), batch_size=batch_size)
        return group.catch_up()

    def check(self, **kwargs: Any) -> CheckReport:
        return check(self.ledger, self.db, **kwargs)

    @property
    def read(self) -> ReadModels:
        if self._read is None:
            self._read = ReadModels(self.url)
        return self._read

    def close(self) -> None:
        if self._read is not None:
            self._read.close()
        self.ledger.close()
        self.db.dispose()
