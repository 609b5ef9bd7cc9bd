"""Idempotency-Key: a retried write returns the first write's answer and stores nothing.

The key's row is stored in the same transaction as the write's events
(``save(..., idempotency=row)``, ledger/adapters/port.py), so a retry finds
either the row or no event at all. Two requests are "the same" when their
kind and their canonical request digest match; the same key with another
request is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from ledger.domain.cases import CASE_COMMANDS
from ledger.domain.clock import us_to_iso
from ledger.domain.commands import Command
from ledger.domain.errors import IdempotencyKeyReused, InvalidCommand
from ledger.domain.record import event_id, stream_id
from ledger.service.core import LedgerCore
from ledger.service.receipts import Receipt


class Idempotency(LedgerCore):
    """Keyed writes: the row to store with a write, and the answer to a retry."""

    def idempotency_request(
        self, actor: str, key: str, kind: str, ccg: str, scheme: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        """The row a keyed write stores with its events (``save(..., idempotency=row)``).

        ``kind`` and ``request`` are what make two requests "the same": a retry
        must repeat both, so one key can't be reused for another kind of write.
        """
        if not isinstance(key, str) or not 1 <= len(key) <= 200 or not key.isprintable():
            raise InvalidCommand(
                "Idempotency-Key: must be 1 to 200 printable characters", field="Idempotency-Key"
            )
        canonical = json.dumps(
            {"type": kind, "ccg": ccg, "scheme": scheme, **request},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        digest = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return {
            "actor": actor,
            "key": key,
            "request_digest": digest,
            "type": kind,
            "ccg": ccg,
            "scheme": scheme,
        }

    def prior_write(self, retry: dict[str, Any]) -> Mapping[str, Any] | None:
        """The stored row of an earlier write with this key, if any.

        Raises :class:`IdempotencyKeyReused` when the key was used for another request.
        """
        row = self.log_store.idempotent_write(retry["actor"], retry["key"])
        if row is not None and row["request_digest"] != retry["request_digest"]:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {retry['key']!r} was already used for a different request "
                f"({row['type']} for {row['ccg']})",
                field="Idempotency-Key",
            )
        return row

    def _idempotency_row(self, actor: str, key: str, command: Command) -> dict[str, Any]:
        return self.idempotency_request(
            actor,
            key,
            command.type,
            command.ccg,
            command.scheme,
            {"fields": command.fields, "reason": command.reason},
        )

    def _earlier_receipt(self, retry: dict[str, Any]) -> Receipt | None:
        """The receipt of the write already stored under the key (``replayed``), if any."""
        row = self.prior_write(retry)
        if row is None:
            return None
        oid = stream_id(row["ccg"], row["scheme"])
        if row["type"] in CASE_COMMANDS:
            found = self.log_store.originator_at(int(row["position"]))
            oid = UUID(found) if found else oid
        return Receipt(
            type=row["type"],
            ccg=row["ccg"],
            scheme=row["scheme"],
            event_id=event_id(oid, int(row["version"])),
            version=int(row["version"]),
            position=int(row["position"]),
            recorded_at=us_to_iso(int(row["recorded_us"])),
            replayed=True,
        )
