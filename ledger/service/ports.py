"""What the determinations service needs from the ledger, and nothing more.

:class:`ledger.service.determinations.Determinations` works on top of the
ledger (it reads decisions, loads records, saves through the same
repository) but must not import the application that constructs it: the
arrow points one way, ``application -> determinations -> ports``.
``QPLedger`` satisfies :class:`LedgerPort` structurally (checked by mypy
where it builds ``Determinations(self)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import Mapper

from ledger.adapters.port import LedgerStore
from ledger.domain.facts import Facts
from ledger.domain.record import CCGPremiumRecord
from ledger.engine.decide import Decision


class LedgerPort(Protocol):
    """The ledger as the determinations service sees it."""

    @property
    def repository(self) -> Repository[UUID]: ...

    @property
    def mapper(self) -> Mapper[UUID]: ...

    @property
    def log_store(self) -> LedgerStore: ...

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]: ...

    def forget(self, oid: UUID) -> None: ...

    def check_subject(self, ccg: str, scheme: str) -> None: ...

    def load_record(self, ccg: str, scheme: str, actor: str) -> CCGPremiumRecord: ...

    def idempotency_request(
        self, actor: str, key: str, kind: str, ccg: str, scheme: str, request: dict[str, Any]
    ) -> dict[str, Any]: ...

    def prior_write(self, retry: dict[str, Any]) -> Mapping[str, Any] | None: ...

    def facts(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Facts: ...

    def decision(
        self, ccg: str, scheme: str, *, as_of: str | None = None, position: int | None = None
    ) -> Decision: ...

    def attach_log(self, document: dict[str, Any]) -> None: ...

    def stream_version_at(self, ccg: str, scheme: str, position: int) -> int: ...

    def unseal_fields(
        self, oid: UUID, values: Mapping[tuple[int, str], Any]
    ) -> tuple[dict[tuple[int, str], Any], dict[int, dict[str, Any]]]: ...
