"""Helpers for the read model tests: a ledger opened for following, its read models."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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

SCHEME = "qp-2013-14"


def as_ledger_returns(ledger: QPLedger, document: dict[str, Any]) -> dict[str, Any]:
    """A stored (engine) document plus what ``QPLedger.decision`` attaches, if anything."""
    out = dict(document)
    attach = getattr(ledger, "attach_log", None)
    if attach is not None:
        attach(out)
    return out


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
