"""Point-in-time replay: the facts and the decision as they stood at a time or a log position.

Recorded time is set by the store, strictly increasing in log order, so
"as of T" is exactly the log prefix up to the last position recorded at or
before T, and every replay is a replay at a position.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.domain.clock import parse_instant, to_us, us_to_iso
from ledger.domain.errors import InvalidCommand
from ledger.domain.facts import Facts
from ledger.domain.record import CCGPremiumRecord, stream_id
from ledger.domain.record_facts import facts_from_record, typed_versions
from ledger.domain.scheme import get_scheme
from ledger.engine.decide import Decision, decide
from ledger.service.core import LedgerCore


class Replay(LedgerCore):
    """Facts, decisions and stream versions at a point in the log."""

    def resolve_point(
        self, *, as_of: str | None = None, position: int | None = None
    ) -> tuple[int, str | None]:
        """Turn "as of T" or "at position P" (or now) into a log position and a time."""
        if as_of is not None and position is not None:
            raise InvalidCommand("give as_of or position, not both", field="as_of")
        store = self.log_store
        head = self.max_position()
        if position is not None:
            if isinstance(position, bool) or not isinstance(position, int) or position < 0:
                raise InvalidCommand("position: must be a whole number >= 0", field="position")
            if position > head:
                raise InvalidCommand(
                    f"position: {position} is beyond the end of the log ({head})",
                    field="position",
                    allowed=f"0..{head}",
                )
            known = store.recorded_us(position)
            return position, (us_to_iso(known) if known is not None else None)
        if as_of is not None:
            moment = parse_instant(as_of)
            t = to_us(moment)
            # Another process's clock may run ahead of ours: a time the ledger has
            # already recorded is never "in the future".
            last = store.recorded_us(head) if head else None
            if t > max(store.clock(), last or 0):
                raise InvalidCommand(
                    f"as_of: {as_of} is in the future; a replay can only use "
                    "what the ledger already knows",
                    field="as_of",
                )
            return store.position_at(t), us_to_iso(t)
        return head, (us_to_iso(self._recorded_us(head)) if head else None)

    def facts(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Facts:
        """The facts known about one CCG at a point in the log (the engine's input)."""
        self.check_subject(ccg, scheme)
        point, moment = self.resolve_point(as_of=as_of, position=position)
        oid = stream_id(ccg, scheme)
        version = self.log_store.stream_version_at(str(oid), point)
        if version is None:
            return Facts(ccg=ccg, scheme=scheme, position=point, as_of=moment)
        record: CCGPremiumRecord = self.repository.get(oid, version=version)
        return facts_from_record(record, self._refs(oid, typed_versions(record)), point, moment)

    def decision(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Decision:
        """The premium decision as it stood at a recorded time or log position (or now)."""
        facts = self.facts(ccg, scheme, as_of=as_of, position=position)
        decision = decide(get_scheme(scheme), facts)
        self.attach_log(decision.document)
        return decision

    def attach_log(self, document: dict[str, Any]) -> None:
        """Point a decision at the log it used: the Merkle tree size and root at its position.

        An auditor holding a checkpoint can then prove, with a consistency proof,
        that the replay used a prefix of the log they trust.
        """
        size, root = self.log_store.log_head_at(int(document["position"]))
        document["log"] = {"tree_size": size, "root_hash": "sha256:" + root.hex()}

    def stream_version(self, ccg: str, scheme: str) -> int:
        self.check_subject(ccg, scheme)
        try:
            return int(self.repository.get(stream_id(ccg, scheme)).version)
        except AggregateNotFoundError:
            return 0

    def stream_version_at(self, ccg: str, scheme: str, position: int) -> int:
        """The CCG's record version as it stood at a log position (0: not yet opened)."""
        self.check_subject(ccg, scheme)
        return self.log_store.stream_version_at(str(stream_id(ccg, scheme)), position) or 0
