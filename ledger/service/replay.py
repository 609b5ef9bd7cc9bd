"""Point-in-time replay: the facts and the decision as they stood at a time or a log position.

Recorded time is set by the store, strictly increasing in log order, so
"as of T" is exactly the log prefix up to the last position recorded at or
before T, and every replay is a replay at a position.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.adapters.log_head import head_reader, version_reader
from ledger.domain.clock import parse_instant, to_us, us_to_iso
from ledger.domain.errors import InvalidCommand
from ledger.domain.facts import Facts
from ledger.domain.record import CCGPremiumRecord, stream_id
from ledger.domain.record_facts import facts_from_record, typed_versions
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import ENGINE_VERSION, Decision, decide
from ledger.service.core import LedgerCore


class Replay(LedgerCore):
    """Facts, decisions and stream versions at a point in the log."""

    def resolve_point(
        self, *, as_of: str | None = None, position: int | None = None
    ) -> tuple[int, str | None]:
        """Turn "as of T" or "at position P" (or now) into a log position and a time.

        A position or instant at or below the highest head already seen is known
        valid without asking the store (the log only grows); "now" asks for the
        head, one index lookup.
        """
        if as_of is not None and position is not None:
            raise InvalidCommand("give as_of or position, not both", field="as_of")
        store = self.log_store
        if position is not None:
            if isinstance(position, bool) or not isinstance(position, int) or position < 0:
                raise InvalidCommand("position: must be a whole number >= 0", field="position")
            if position > self.decision_cache.known_head()[0]:
                head = self._head()
                if position > head:
                    raise InvalidCommand(
                        f"position: {position} is beyond the end of the log ({head})",
                        field="position",
                        allowed=f"0..{head}",
                    )
            known = self._time_at(position)
            return position, (us_to_iso(known) if known is not None else None)
        if as_of is not None:
            moment = parse_instant(as_of)
            t = to_us(moment)
            instants = self.decision_cache.instants
            if t > self.decision_cache.known_head()[1]:
                head = self._head()
                # Another process's clock may run ahead of ours: a time the ledger has
                # already recorded is never "in the future".
                last = self._time_at(head) if head else None
                if t > max(store.clock(), last or 0):
                    raise InvalidCommand(
                        f"as_of: {as_of} is in the future; a replay can only use "
                        "what the ledger already knows",
                        field="as_of",
                    )
                if last is None or t > last:
                    # A later write may still be recorded at or before t: not final.
                    return store.position_at(t), us_to_iso(t)
            found = instants.get(t)
            if found is None:
                found = instants.put(t, (store.position_at(t),))
            return found[0], us_to_iso(t)
        head = self._head()
        return head, (us_to_iso(self._recorded_us(head)) if head else None)

    @cached_property
    def _read_head(self) -> Callable[[], int]:
        return head_reader(self.log_store)

    @cached_property
    def _read_version(self) -> Callable[[str, int], int | None]:
        return version_reader(self.log_store)

    def _head(self) -> int:
        head = self._read_head()
        cache = self.decision_cache
        if head > cache.known_head()[0]:
            recorded = self.log_store.recorded_us(head)
            cache.saw_head(head, recorded)
            cache.times.put(head, (recorded,))
        return head

    def _time_at(self, position: int) -> int | None:
        """The recorded time at a position (kept when at or below a head seen: it is final)."""
        times = self.decision_cache.times
        found = times.get(position)
        if found is None:
            found = (self.log_store.recorded_us(position),)
            if position <= self.decision_cache.known_head()[0]:
                times.put(position, found)
        return found[0]

    def _recorded_us(self, position: int) -> int:
        value = self._time_at(position)
        if value is None:
            raise InvalidCommand(f"position {position} is not in the log", field="position")
        return value

    def facts(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Facts:
        """The facts known about one CCG at a point in the log (the engine's input)."""
        self.check_subject(ccg, scheme)
        point, moment = self.resolve_point(as_of=as_of, position=position)
        version = self._version_at(str(stream_id(ccg, scheme)), point)
        return self._facts_at(ccg, scheme, version, point, moment)

    def _facts_at(
        self, ccg: str, scheme: str, version: int, point: int, moment: str | None
    ) -> Facts:
        if not version:
            return Facts(ccg=ccg, scheme=scheme, position=point, as_of=moment)
        oid = stream_id(ccg, scheme)
        record: CCGPremiumRecord = self.repository.get(oid, version=version)
        return facts_from_record(record, self._refs(oid, typed_versions(record)), point, moment)

    def _version_at(self, oid: str, position: int) -> int:
        """The stream's version at a resolved position (0: not yet opened); kept, it is final."""
        versions = self.decision_cache.versions
        found = versions.get((oid, position))
        if found is None:
            version = self._read_version(oid, position) or 0
            found = (version,)
            if position <= self.decision_cache.known_head()[0]:
                versions.put((oid, position), found)
        return found[0]

    def decision(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Decision:
        """The premium decision as it stood at a recorded time or log position (or now).

        Computed once per (stream, stream version, engine version): a replay of
        the same record version at another position only re-stamps the moment
        (``as_of``, ``position``) and the Merkle head it points at.
        """
        self.check_subject(ccg, scheme)
        point, moment = self.resolve_point(as_of=as_of, position=position)
        oid = stream_id(ccg, scheme)
        version = self._version_at(str(oid), point)
        key = (str(oid), version, ENGINE_VERSION)
        cache = self.decision_cache
        document = cache.document(key, point, moment)
        if document is None:
            facts = self._facts_at(ccg, scheme, version, point, moment)
            document = decide(get_scheme(scheme), facts).document
            cache.keep(key, document)
        self.attach_log(document)
        return Decision(document)

    def attach_log(self, document: dict[str, Any]) -> None:
        """Point a decision at the log it used: the Merkle tree size and root at its position.

        An auditor holding a checkpoint can then prove, with a consistency proof,
        that the replay used a prefix of the log they trust.
        """
        position = int(document["position"])
        log = self.decision_cache.log_heads.get(position)
        if log is None:
            size, root = self.log_store.log_head_at(position)
            log = {"tree_size": size, "root_hash": "sha256:" + root.hex()}
            if position <= self.decision_cache.known_head()[0]:
                self.decision_cache.log_heads.put(position, log)
        document["log"] = dict(log)

    def stream_version(self, ccg: str, scheme: str) -> int:
        self.check_subject(ccg, scheme)
        try:
            return int(self.repository.get(stream_id(ccg, scheme)).version)
        except AggregateNotFoundError:
            return 0

    def stream_version_at(self, ccg: str, scheme: str, position: int) -> int:
        """The CCG's record version as it stood at a log position (0: not yet opened)."""
        self.check_subject(ccg, scheme)
        return self._version_at(str(stream_id(ccg, scheme)), position)
