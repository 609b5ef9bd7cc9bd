"""One way to retry a write that lost a race: fresh state, a jittered pause, at most 20 tries.

Every write in the service reads an aggregate, changes it and saves it; the
store refuses the save (``IntegrityError``) when another writer moved the
stream on first, or when a racing retry stored the same Idempotency-Key.
Either way the write is tried again on fresh state, so no acknowledged event
is lost. One policy for all of them: writers in this process are already
serialised per stream, so a conflict means another process, and a full-jitter
exponential pause (2 ms doubling, capped at 200 ms) spreads competing writers
out without making a lone retry wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from ledger.domain.errors import ConcurrencyConflict

T = TypeVar("T")

#: How often a concurrent writer may beat us to a stream before we give up.
MAX_WRITE_ATTEMPTS = 20


def pause(attempt: int) -> None:
    """Sleep before try ``attempt + 1``: full jitter, 2 ms doubling, at most 200 ms."""
    time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))


def retry_on_conflict(
    attempt: Callable[[], T],
    *,
    after_conflict: Callable[[], None],
    gave_up: str,
) -> T:
    """Run ``attempt`` until it returns; on ``IntegrityError``, clean up and try again.

    ``after_conflict`` drops the cached state the lost write was built on (it
    may itself raise, to refuse rather than retry, e.g. a conditional write).
    After :data:`MAX_WRITE_ATTEMPTS` lost races the write is refused with
    :class:`ConcurrencyConflict`, whose message is ``gave_up``.
    """
    for n in range(MAX_WRITE_ATTEMPTS):
        try:
            return attempt()
        except IntegrityError:
            after_conflict()
        pause(n)
    raise ConcurrencyConflict(gave_up)
