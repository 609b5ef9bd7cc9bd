"""What the service hands back for a write: a receipt, or an import's report.

A receipt names the stored event the way every reader of the log does (event
id, stream version, log position, recorded time), so a client can ask for a
replay "at position P" straight from it.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledger.engine.decide import number as json_number


@dataclass(frozen=True)
class Receipt:
    """What a stored command became: its event id, stream version and log position."""

    type: str
    ccg: str
    scheme: str
    event_id: str
    version: int
    position: int
    recorded_at: str
    #: True when this is the stored answer to an earlier request with the same key.
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "replayed"}


@dataclass
class ImportReport:
    stored: int = 0
    rejected: int = 0
    last_position: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "rejected": self.rejected,
            "last_position": self.last_position,
        }


def plain(value: Any) -> Any:
    """Decimals as JSON numbers, recursively, so history reads as the user wrote it."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def default_actor() -> str:
    """Who a write is recorded as when no caller identity is given (the CLI's user)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli:unknown"
