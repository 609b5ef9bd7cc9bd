"""A CCG's determinations (its "desk"): loading, keyed and retried saving, recorded times.

What issuing (.issuing) and appeals (.appeals) share. Every change is applied
to the desk as it stands in the store and saved; a save that loses a race is
applied again on fresh state (ledger/service/retry.py). With an
Idempotency-Key, a change already stored under the key is not repeated: its
result is found again from the stored row, which was written in the same
transaction as the first change's event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.domain.clock import us_to_iso
from ledger.domain.determinations import CCGDeterminations, determinations_id
from ledger.domain.errors import LedgerError, NothingRecorded
from ledger.domain.record import stream_id
from ledger.engine.decide import Decision
from ledger.service.ports import LedgerPort
from ledger.service.retry import retry_on_conflict


@dataclass(frozen=True)
class Keyed:
    """A keyed write: the row to store with it, and how to find its result again."""

    retry: dict[str, Any]
    found: Callable[[CCGDeterminations, int], Any]


class Desk:
    """Issued decisions and appeals for every CCG, on top of the ledger."""

    def __init__(self, ledger: LedgerPort) -> None:
        self.ledger = ledger

    # -- loading and saving ------------------------------------------------------

    def _load(self, ccg: str, scheme: str) -> CCGDeterminations | None:
        self.ledger.check_subject(ccg, scheme)
        try:
            found: CCGDeterminations = self.ledger.repository.get(determinations_id(ccg, scheme))
        except AggregateNotFoundError:
            return None
        return found

    def _load_or_open(self, ccg: str, scheme: str, actor: str) -> CCGDeterminations:
        return self._load(ccg, scheme) or CCGDeterminations(ccg=ccg, scheme=scheme, actor=actor)

    def _retrying(
        self,
        ccg: str,
        scheme: str,
        actor: str,
        change: Callable[[CCGDeterminations], Any],
        keyed: Keyed | None = None,
    ) -> Any:
        """Apply a change on fresh state and save; retry if another writer got in first."""

        def attempt() -> Any:
            if keyed is not None and (earlier := self._earlier(ccg, scheme, keyed)) is not None:
                return earlier[0]
            desk = self._load_or_open(ccg, scheme, actor)
            try:
                result = change(desk)
            except LedgerError:
                # A racing retry with this key may have committed between the look
                # above and the load (its appeal is now "still open"): that is a
                # replay, not a refusal.
                if keyed is not None and (earlier := self._earlier(ccg, scheme, keyed)):
                    return earlier[0]
                raise
            # Refused (IntegrityError) when another writer moved the stream on, or a
            # racing retry with the same key won: either way, look again.
            self.ledger.save(desk, idempotency=None if keyed is None else keyed.retry)
            return result

        return retry_on_conflict(
            attempt,
            after_conflict=lambda: self.ledger.forget(determinations_id(ccg, scheme)),
            gave_up=f"too many concurrent changes to {ccg}'s determinations",
        )

    def _earlier(self, ccg: str, scheme: str, keyed: Keyed) -> tuple[Any] | None:
        """The result of the write already stored under the key, if there is one."""
        row = self.ledger.prior_write(keyed.retry)
        if row is None:
            return None
        desk = self._load(ccg, scheme)
        assert desk is not None  # the row commits with the desk's event
        return (keyed.found(desk, int(row["version"])),)

    def _keyed(
        self,
        key: str | None,
        actor: str,
        kind: str,
        ccg: str,
        scheme: str,
        request: dict[str, Any],
        found: Callable[[CCGDeterminations, int], Any],
    ) -> Keyed | None:
        if key is None:
            return None
        retry = self.ledger.idempotency_request(actor, key, kind, ccg, scheme, request)
        return Keyed(retry, found)

    def _recorded_at(self, ccg: str, scheme: str, version: int) -> str:
        located = self.ledger.log_store.locate(str(determinations_id(ccg, scheme)), [version])
        return us_to_iso(located[version][1]) if version in located else ""

    def _recorded_us(self, ccg: str, scheme: str, version: int) -> int:
        located = self.ledger.log_store.locate(str(determinations_id(ccg, scheme)), [version])
        return located[version][1]

    # -- deciding ----------------------------------------------------------------

    def decision(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Decision:
        """The decision at a point, refused when the CCG's record held nothing then.

        Decided from no facts, the engine answers a £0 provisional premium,
        which a reader takes for a finding. What is true is that nothing was
        recorded yet: :class:`NothingRecorded` says so and where the record
        starts, so the user can ask again from there.
        """
        decision = self.ledger.decision(ccg, scheme, as_of=as_of, position=position)
        self._check_recorded(ccg, scheme, decision.document, "there is no decision to show")
        return decision

    def _check_recorded(self, ccg: str, scheme: str, document: dict[str, Any], so: str) -> None:
        point = int(document["position"])
        if self.ledger.stream_version_at(ccg, scheme, point):
            return
        first = self.ledger.log_store.locate(str(stream_id(ccg, scheme)), [1]).get(1)
        if first is None:
            raise NothingRecorded(
                f"nothing has been recorded yet for {ccg} in {scheme} (its record has no "
                f"events), so {so}",
                field="ccg",
            )
        moment = f" ({document['as_of']})" if document.get("as_of") else ""
        raise NothingRecorded(
            f"nothing was recorded yet for {ccg} in {scheme} at log position {point}{moment}, "
            f"so {so}; its first event is at log position {first[0]}, recorded "
            f"{us_to_iso(first[1])}",
            field="ccg",
            allowed=f"log positions from {first[0]}",
        )
