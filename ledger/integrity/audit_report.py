"""What ``qp-ledger verify`` found: the recomputed tree head and every mismatch, by position."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.integrity.checkpoint import Checkpoint

#: The audit keeps going after a problem, but lists at most this many.
MAX_PROBLEMS = 100

#: Called with the number of events after each page the audit reads.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Problem:
    """One mismatch: the position (when an event is at fault), the row, and what is wrong.

    ``table`` and ``row`` name the row at fault when it is not the event's own
    (an index, snapshot or idempotency row): ``row`` is its key, as text.
    """

    position: int | None
    leaf_index: int | None
    what: str
    table: str | None = None
    row: str | None = None

    def __str__(self) -> str:
        if self.table is not None:
            return f"{self.table} row ({self.row}): {self.what}"
        where = f"position {self.position}" if self.position is not None else "log"
        return f"{where}: {self.what}"


@dataclass
class AuditReport:
    """What the audit found: the recomputed tree head and every mismatch."""

    size: int = 0
    root: bytes = b""
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    checkpoint: Checkpoint | None = None
    #: Positions covered (the last one at the start; 0 for an empty log) and streams seen.
    last_position: int = 0
    streams: int = 0
    #: Stored Merkle nodes compared with the recomputed tree.
    nodes_checked: int = 0
    #: How tables beside the log were checked, when it is worth saying (legacy rows, no key).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_position(self) -> int | None:
        positions = [p.position for p in self.problems if p.position is not None]
        return min(positions) if positions else None

    def flag(
        self,
        position: int | None,
        leaf_index: int | None,
        what: str,
        *,
        table: str | None = None,
        row: str | None = None,
    ) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(position, leaf_index, what, table, row))
        else:
            self.more_problems += 1
