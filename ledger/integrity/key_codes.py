"""Key codes: which Idempotency-Key each write stored, authenticated, one code per event.

An idempotency row on its own proves nothing: its request digest hashes a
request no event keeps, and a row deleted, made up or re-pointed at another
event of the same stream looks like any other. So every event is written
with a **key code** in ``<app>_key_codes`` (same transaction): an HMAC-SHA256,
keyed by the snapshot key (a file outside the database), over the log's
key-code epoch, the event's position and either "no key" or every column of
the idempotency row its write stored (the row points at the write's last
event). A *tag*, HMAC(actor, key), finds the code of a key whose row is gone.

* an edited, inserted or re-pointed row does not match the code at its position;
* a deleted row leaves a code that says a key was stored there;
* a deleted or edited code is missing or wrong for its event (every event
  from the epoch on has one; the epoch is in every code).

``<app>_key_codes_since`` holds the epoch: the first position written with
codes, fixed when the table is created (events before it were written before
codes existed, and their rows are checked against the events only).

Defined once here, below the writer (ledger/adapters/key_codes.py) and
``qp-ledger verify`` (ledger/integrity/audit_keys.py), so both agree on what a
code covers.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, Table

_CODE = b"qp-ledger key code v1\n"
_TAG = b"qp-ledger key tag v1\n"
_BIG = BigInteger().with_variant(Integer(), "sqlite")
#: The idempotency row's columns a code covers: text, then integers, in this order.
TEXT_COLUMNS = ("actor", "key", "request_digest", "type", "ccg", "scheme")
INT_COLUMNS = ("version", "position", "recorded_us")


def key_codes_table(events_table_name: str, metadata: MetaData | None = None) -> Table:
    """``<app>_key_codes``: one code per event (tag: only for a keyed write's last event)."""
    name = events_table_name.removesuffix("_events") + "_key_codes"
    return Table(
        name,
        metadata or MetaData(),
        Column("position", _BIG, primary_key=True, autoincrement=False),
        Column("tag", LargeBinary(32), nullable=True),
        Column("mac", LargeBinary(32), nullable=False),
        Index(f"{name}_tag", "tag", unique=True),
    )


def key_codes_since_table(events_table_name: str, metadata: MetaData | None = None) -> Table:
    """``<app>_key_codes_since``: one row, the first log position written with key codes."""
    return _epoch_table(events_table_name, "_key_codes_since", metadata)


def _epoch_table(events_table_name: str, suffix: str, metadata: MetaData | None) -> Table:
    name = events_table_name.removesuffix("_events") + suffix
    column = Column("since", _BIG, primary_key=True, autoincrement=False)
    return Table(name, metadata or MetaData(), column)


def _text(value: Any) -> bytes:
    data = str(value).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(data)) + data


def key_tag(key: bytes, actor: Any, idempotency_key: Any) -> bytes:
    """What finds a key's code without its row: HMAC over (actor, key)."""
    return hmac.digest(key, _TAG + _text(actor) + _text(idempotency_key), "sha256")


def key_code(key: bytes, since: int, position: int, row: Mapping[str, Any] | None) -> bytes:
    """The code of the event at ``position``: "no key", or the idempotency row pointing at it.

    Raises ``ValueError``/``TypeError`` for a row whose integer columns are not
    integers (SQLite keeps whatever an ``UPDATE`` puts there): such a row
    matches no code.
    """
    message = _CODE + struct.pack(">QQ", int(since), int(position))
    if row is None:
        message += b"\x00"
    else:
        message += b"\x01" + b"".join(_text(row[c]) for c in TEXT_COLUMNS)
        message += b"".join(struct.pack(">q", _int(row[c])) for c in INT_COLUMNS)
    return hmac.digest(key, message, "sha256")


def unkeyed_codes(key: bytes, since: int) -> Callable[[int], bytes]:
    """``key_code(key, since, position, None)`` as a function of the position, faster.

    Most events are written without a key; ``verify`` computes this once per
    event, so the HMAC state after the common prefix is kept and copied.
    """
    prefix = hmac.new(key, _CODE + struct.pack(">Q", int(since)), "sha256")
    pack = struct.Struct(">Qx").pack  # the position, then the "no key" byte (0)

    def code(position: int) -> bytes:
        state = prefix.copy()
        state.update(pack(position))
        return state.digest()

    return code


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r:.40}")
    return value


def row_matches(key: bytes, since: int, position: int, row: Mapping[str, Any], code: Any) -> bool:
    """Whether ``row`` is the idempotency row the code at ``position`` was written for."""
    try:
        expected = key_code(key, since, position, row)
    except (TypeError, ValueError, struct.error):
        return False
    return isinstance(code, bytes | bytearray | memoryview) and hmac.compare_digest(
        bytes(code), expected
    )


# -- index codes ----------------------------------------------------------------
#
# The position index says when each event was recorded and where it sits. The
# leaf commits to the same facts, so ``verify`` catches an edited row; but a
# decision "now" is stamped with the head's recorded time, "as of T" is found by
# the times, and every event reference quotes one, all read from the index
# without re-hashing the log. So every index row is written with an **index
# code**: an HMAC under the same key over the epoch and the row's four columns,
# checked on every read a decision makes (ledger/adapters/index_reads.py).

_INDEX = b"qp-ledger index code v1\n"


def index_codes_table(events_table_name: str, metadata: MetaData | None = None) -> Table:
    """``<app>_index_codes``: one code per index row (from the epoch on)."""
    name = events_table_name.removesuffix("_events") + "_index_codes"
    return Table(
        name,
        metadata or MetaData(),
        Column("position", _BIG, primary_key=True, autoincrement=False),
        Column("mac", LargeBinary(32), nullable=False),
    )


def index_codes_since_table(events_table_name: str, metadata: MetaData | None = None) -> Table:
    """``<app>_index_codes_since``: one row, the first log position written with index codes."""
    return _epoch_table(events_table_name, "_index_codes_since", metadata)


def index_code(key: bytes, since: int, position: int, stream: Any, version: Any, us: Any) -> bytes:
    """The code of the index row (position, stream, version, recorded time in µs).

    Raises ``TypeError`` for a version or time that is not an integer (SQLite
    keeps whatever an ``UPDATE`` puts there): such a row matches no code.
    """
    message = _INDEX + struct.pack(">QQ", int(since), int(position)) + _text(stream)
    return hmac.digest(key, message + struct.pack(">qq", _int(version), _int(us)), "sha256")


def index_row_matches(
    key: bytes, since: int, position: Any, stream: Any, version: Any, us: Any, code: Any
) -> bool:
    """Whether the index row is the one its code was written for."""
    try:
        expected = index_code(key, since, _int(position), stream, version, us)
    except (TypeError, ValueError, struct.error):
        return False
    return isinstance(code, bytes | bytearray | memoryview) and hmac.compare_digest(
        bytes(code), expected
    )
