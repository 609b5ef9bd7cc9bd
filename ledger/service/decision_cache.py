"""Decisions at a log position, computed once (issue 12, item 1).

A log position at or below the head never changes: the events up to it,
their recorded times, each stream's version there and the Merkle tree head
there are final, because writes append under the log's write lock in
position order and recorded time strictly increases. So everything derived
from a position is a value, and a value can be kept.

The decision itself depends on less than its position: everything but
``as_of``, ``position`` and ``log`` is a function of the CCG's record at one
stream version and of the engine (docs/contract.md: the inputs digest leaves
the moment out for the same reason). :class:`DecisionCache` therefore keeps

* ``documents``: (stream, stream version, engine version) -> the document as
  first computed; a replay at another position of the same version only
  re-stamps the three moment fields;
* ``versions``, ``times``, ``log_heads``, ``instants``: the per-position
  lookups (stream version at P, recorded time at P, Merkle head at P, the
  position of an instant already in the past);
* ``bodies``: the serialised forms an adapter builds from these values (the
  HTTP API keeps the exact bytes and ETag of a document there), bounded by
  their size;
* ``templates``: per (stream, stream version, engine version), a document's
  serialised form cut around its moment fields, which an adapter re-stamps
  for each new position (the HTTP API's, api/decision_bytes.py);
* the highest head and its recorded time seen so far, so that a position or
  an instant at or below them needs no query to be known valid.

Every map is a bounded LRU behind its own lock: gunicorn's ``gthread``
workers read from several threads at once and cachetools' caches are not
synchronised. Each process keeps its own; they agree because they hold only
values. A cache belongs to one application instance (one database).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")

#: Documents, one per CCG record version read (211 CCGs a scheme, a few versions
#: each); about 25 KB each in memory, so about 25 MB a worker process at most.
DOCUMENTS = 1024
#: Per-position lookups (small tuples).
LOOKUPS = 16384
#: Serialised bodies, bounded by their bytes (each worker process keeps its own).
BODY_BYTES = 16 * 1024 * 1024


class Memo(Generic[V]):
    """A bounded, thread-safe map from immutable keys to values computed once.

    Bounded by count, or by ``getsizeof`` (e.g. bytes) when given; a value
    larger than the whole bound is served but not kept.
    """

    def __init__(self, maxsize: int, getsizeof: Callable[[V], int] | None = None) -> None:
        self._cache: LRUCache[Hashable, V] = LRUCache(maxsize=maxsize, getsizeof=getsizeof)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def maxsize(self) -> int:
        return int(self._cache.maxsize)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._cache.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> V:
        with self._lock, contextlib.suppress(ValueError):  # ValueError: too large to keep
            self._cache[key] = value
        return value

    @property
    def currsize(self) -> int:
        """What the kept values weigh (their count without ``getsizeof``)."""
        with self._lock:
            return int(self._cache.currsize)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


class DecisionCache:
    """The values of one ledger's log positions that replays keep recomputing."""

    def __init__(
        self, documents: int = DOCUMENTS, lookups: int = LOOKUPS, body_bytes: int = BODY_BYTES
    ) -> None:
        self.documents: Memo[dict[str, Any]] = Memo(documents)
        self.versions: Memo[tuple[int]] = Memo(lookups)  # boxed: 0 is a value, not a miss
        self.times: Memo[tuple[int | None]] = Memo(lookups)
        self.log_heads: Memo[dict[str, Any]] = Memo(lookups)
        self.instants: Memo[tuple[int]] = Memo(lookups)
        self.bodies: Memo[tuple[bytes, str]] = Memo(body_bytes, lambda tagged: len(tagged[0]))
        self.templates: Memo[tuple[str, ...]] = Memo(documents)
        self._head = (0, 0)  # (position, its recorded time in µs), only ever raised
        self._head_lock = threading.Lock()

    def saw_head(self, position: int, recorded_us: int | None) -> None:
        """Remember the log reached ``position`` (recorded at ``recorded_us``)."""
        with self._head_lock:
            if position > self._head[0]:
                self._head = (position, recorded_us or 0)

    def known_head(self) -> tuple[int, int]:
        """The highest (position, recorded time) seen: everything at or below is final."""
        with self._head_lock:
            return self._head

    def document(
        self, key: tuple[str, int, str], position: int, as_of: str | None
    ) -> dict[str, Any] | None:
        """A private copy of a kept document, re-stamped for the position it is read at."""
        kept = self.documents.get(key)
        if kept is None:
            return None
        document = copy.deepcopy(kept)
        document["as_of"] = as_of
        document["position"] = position
        document.pop("log", None)
        return document

    def keep(self, key: tuple[str, int, str], document: dict[str, Any]) -> None:
        self.documents.put(key, copy.deepcopy(document))

    def clear(self) -> None:
        """Forget everything (a test that rewrites the database under a live application)."""
        for memo in (
            self.documents,
            self.versions,
            self.times,
            self.log_heads,
            self.instants,
            self.bodies,
            self.templates,
        ):
            memo.clear()
        with self._head_lock:
            self._head = (0, 0)
