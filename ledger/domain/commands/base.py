"""What every command is: a frozen dataclass named for what it asks the ledger to do.

Each command class states the contract's ``type`` string once, its own fields
as dataclass fields, and its own field rules in ``parse``; the registry
(``registry.py``) maps the type string to the class. The four fields every
command has are checked in a fixed order, which the error a user sees depends
on: ``ccg`` and ``scheme`` first (by ``parse_command``), then the type's own
fields (by its ``parse``), then ``reason`` and ``actor`` (``envelope``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from ledger.domain.commands.fields import text
from ledger.domain.record import CCGPremiumRecord
from ledger.domain.scheme import Scheme

COMMON_FIELDS = ("type", "ccg", "scheme", "reason", "actor")


@dataclass(frozen=True, kw_only=True)
class Command:
    """A validated command; a subclass's own dataclass fields are its ``fields``."""

    #: The contract's name for the command (docs/contract.md), e.g. ``measure_submitted``.
    type: ClassVar[str]
    #: The one role that may send it (docs/domain.md: who does what): ``board``,
    #: ``area-team`` (for the CCGs of its area) or ``ccg`` (for itself).
    writer: ClassVar[str]
    #: Fields a command of this type may leave out (none so far).
    optional: ClassVar[tuple[str, ...]] = ()

    ccg: str
    scheme: str
    reason: str | None = None
    actor: str | None = None

    @classmethod
    def required(cls) -> tuple[str, ...]:
        """The fields this type requires beyond the common ones, in the contract's order."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in COMMON_FIELDS)

    @property
    def fields(self) -> dict[str, Any]:
        """The type's own fields, typed: what its event stores besides actor and reason."""
        return {name: getattr(self, name) for name in self.required()}

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        """The command from ``raw``, whose type, field names, ccg and scheme are checked."""
        raise NotImplementedError

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        """Check the rules that depend on the record, then record the fact as its event."""
        # Case commands change a case's own stream and the records it moves between
        # (the application's ``_execute_case``), never one record alone.
        raise AssertionError(self.type)


def envelope(raw: dict[str, Any], scheme: Scheme) -> dict[str, Any]:
    """The fields every command has: ``ccg`` and ``scheme`` (checked already by
    ``parse_command``), then ``reason`` and ``actor``, checked after the type's own."""
    return {
        "ccg": raw["ccg"],
        "scheme": scheme.id,
        "reason": text(raw, "reason", required=False, empty=True),
        "actor": text(raw, "actor", required=False),
    }
