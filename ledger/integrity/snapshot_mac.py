"""The snapshot authentication code and its table, shared by the snapshot store and the audit.

Defined once here, below both, so the writer (ledger/adapters/snapshot_auth.py)
and ``qp-ledger verify`` cannot disagree on what a code covers: the stream,
version, topic and stored state of one snapshot row, length-framed.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table

_DOMAIN = b"qp-ledger snapshot mac v1\n"
_BIG = BigInteger().with_variant(Integer(), "sqlite")


def macs_table(snapshots_table_name: str, metadata: MetaData | None = None) -> Table:
    """``<app>_snapshot_macs``: one code per snapshot row, written in its transaction."""
    name = snapshots_table_name.removesuffix("_snapshots") + "_snapshot_macs"
    return Table(
        name,
        metadata or MetaData(),
        Column("originator_id", String(36), primary_key=True),
        Column("originator_version", _BIG, primary_key=True, autoincrement=False),
        Column("mac", LargeBinary(32), nullable=False),
    )


def snapshot_mac(key: bytes, originator_id: Any, version: int, topic: str, state: bytes) -> bytes:
    """HMAC-SHA256 over the snapshot's stream, version, topic and stored state (length-framed)."""
    stream = str(UUID(str(originator_id))).encode()
    encoded_topic = topic.encode()
    state = bytes(state)
    message = b"".join(
        (
            _DOMAIN,
            struct.pack(">I", len(stream)),
            stream,
            struct.pack(">Q", int(version)),
            struct.pack(">I", len(encoded_topic)),
            encoded_topic,
            struct.pack(">I", len(state)),
            state,
        )
    )
    return hmac.new(key, message, hashlib.sha256).digest()
