"""``projections rebuild [NAME]``: build fresh tables from the log, then switch atomically.

The live generation keeps serving (and a running projector keeps it current)
while the next generation is filled: one streamed pass over the log up to its
head, deciding only where a row needs a decision (``bulk.py``), loaded in one
transaction per read model; then whatever was written meanwhile is applied
in the projectors' usual batches. The switch is one transaction that locks
the catalog row -- live batches hold it shared, so none is in flight --
checks the new generation is not behind the live one, and points the catalog
at it. A running projector's next batch finds its generation retired, writes
nothing, and resyncs onto the new one. The replaced generation is kept (a
reader that looked it up an instant before the switch still finds its
tables); older ones are dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain.errors import LedgerError
from ledger.projections.bulk import fold_log
from ledger.projections.database import ReadModelDatabase
from ledger.projections.folding import DecisionMemo
from ledger.projections.group import catch_up_together
from ledger.projections.registry import selected
from ledger.projections.runner import Projector
from ledger.projections.scan import log_head
from ledger.projections.view import NotCaughtUp
from ledger.service.application import QPLedger

#: Catch-up-and-switch rounds before giving up (each one is short: only the
#: events written since the previous round are applied).
SWITCH_ATTEMPTS = 20
REBUILD_BATCH_SIZE = 1000


class RebuildInProgress(LedgerError):
    code = "rebuild-in-progress"


@dataclass(frozen=True)
class RebuildResult:
    name: str
    generation: int
    replaced: int
    position: int
    events: int
    dropped: list[int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "events_per_second": round(self.events / self.seconds, 1)}


def rebuild(
    ledger: QPLedger,
    db: ReadModelDatabase,
    names: Sequence[str] = (),
    *,
    batch_size: int = REBUILD_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> list[RebuildResult]:
    """Rebuild the named read models (default: all) into new generations and switch.

    Several read models are built together, reading the log once.
    """
    specs = selected(list(names))
    started = time.perf_counter()
    memo = DecisionMemo(capacity=4 * batch_size)
    with ExitStack() as guards:
        for spec in specs:
            if not guards.enter_context(db.rebuild_guard(spec.name)):
                raise RebuildInProgress(f"another rebuild of {spec.name} is running")
        replaced = {s.name: db.ensure(s.name, s.define_tables, ledger.name) for s in specs}
        projectors = [
            Projector(
                spec.name,
                ledger,
                db,
                batch_size=batch_size,
                memo=memo,
                building=db.new_generation(spec.name, spec.define_tables, ledger.name),
            )
            for spec in specs
        ]
        generations = {p.name: p.view.generation for p in projectors}
        _load(ledger, projectors, progress)
        catch_up_together(projectors, progress)
        for projector in projectors:
            _switch(projector, progress)
        results = []
        for spec, projector in zip(specs, projectors, strict=True):
            keep = {generations[spec.name], replaced[spec.name]}
            results.append(
                RebuildResult(
                    name=spec.name,
                    generation=generations[spec.name],
                    replaced=replaced[spec.name],
                    position=projector.position,
                    events=projector.stats.events,
                    dropped=db.drop_generations(spec.name, keep, spec.define_tables),
                    seconds=time.perf_counter() - started,
                )
            )
    return results


def _load(
    ledger: QPLedger, projectors: list[Projector], progress: Callable[[int], None] | None
) -> None:
    """Fill the new generations from one pass over the log up to its head (``bulk.py``).

    What was written meanwhile is applied by the usual batches before the switch.
    """
    head = log_head(ledger)
    if not head:
        return
    timeline = any(p.projection.every_decision for p in projectors)
    folded = fold_log(ledger, head, progress, timeline=timeline)
    if not folded.events:
        return
    last = Tracking(ledger.name, folded.position)
    for projector in projectors:
        rows = projector.spec.expected_rows(folded.latest, folded.counts, folded.timeline)
        projector.view.load(rows, last, folded.events)
        projector.position = folded.position
        projector.stats.events += folded.events
        projector.stats.batches += 1
    if progress:
        progress(folded.position)


def _switch(projector: Projector, progress: Callable[[int], None] | None) -> None:
    for _ in range(SWITCH_ATTEMPTS):
        try:
            projector.switch()
            return
        except NotCaughtUp:
            projector.catch_up(progress)
    raise NotCaughtUp(f"{projector.name}: could not catch up with the live projector")
