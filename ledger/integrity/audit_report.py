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
    """One mismatch: the position (when an event is at fault) and what is wrong."""

    position: int | None
    leaf_index: int | None
    what: str

    def __str__(self) -> str:
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

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_position(self) -> int | None:
        positions = [p.position for p in self.problems if p.position is not None]
        return min(positions) if positions else None

    def flag(self, position: int | None, leaf_index: int | None, what: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(position, leaf_index, what))
        else:
            self.more_problems += 1
