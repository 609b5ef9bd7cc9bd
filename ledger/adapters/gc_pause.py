"""No garbage collection while this process holds a SQLite database's write lock.

SQLite has one writer per database file. A projector or an API worker that
holds the write lock blocks every other writer until it commits, so the
lock must be held for milliseconds. CPython's full (generation 2) garbage
collection stops the whole process for as long as it takes to walk every
tracked object: measured at 0.2-0.5 s in a projector catching up on the
demo year, which, landing inside a write transaction, made a README POST
wait most of a second. Collection is only postponed, never skipped: it runs
at the next allocation after the last writer in the process commits.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_guard = threading.Lock()
_holders = 0
_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Postpone garbage collection until every thread in here has left (re-entrant)."""
    global _holders, _was_enabled
    with _guard:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _guard:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
