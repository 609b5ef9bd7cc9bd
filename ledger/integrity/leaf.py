"""The canonical leaf encoding of a stored event: the bytes the Merkle log commits to.

Anyone holding an event's stored fields can rebuild these bytes and so its
leaf hash, SHA-256(0x00 ‖ leaf), without this code. The layout is a sequence
of fields, each a 4-byte big-endian length followed by that many bytes; every
field is always present, in this order (format ``qp-ledger/leaf/v1``):

====  ===============  =====================================================
 #    field            bytes
====  ===============  =====================================================
 1    format tag       ASCII ``qp-ledger/leaf/v1`` (17 bytes)
 2    position         8-byte unsigned big-endian: the event's log position
 3    stream id        UTF-8 text of the stream (originator) id; for UUIDs the
                       36-character lowercase hyphenated form
 4    version          8-byte unsigned big-endian: the version in its stream
 5    topic            UTF-8 text of the stored event's topic
 6    recorded time    8-byte unsigned big-endian: microseconds since the Unix
                       epoch, as the ledger recorded it
 7    previous hash    the leaf hash of the previous event *in the same
                       stream*: 32 bytes, or 0 bytes for a stream's first event
 8    payload          the stored event state exactly as stored (its bytes)
====  ===============  =====================================================

Field 7 is the per-stream hash chain: each event commits to its predecessor in
its stream, and through it to the whole stream so far, so an inclusion proof
for a stream's latest event fixes every earlier one too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from uuid import UUID

FORMAT_TAG = b"qp-ledger/leaf/v1"
_U32 = struct.Struct(">I")
_U64_FIELD = struct.Struct(">IQ")  # a length prefix of 8, then the value
_TAG_FIELD = _U32.pack(len(FORMAT_TAG)) + FORMAT_TAG
_U64_MAX = 2**64 - 1
_FIELDS = 8


class LeafFormatError(ValueError):
    """Bytes that are not a canonical ``qp-ledger/leaf/v1`` leaf."""


@dataclass(frozen=True)
class LeafEvent:
    """The fields of one stored event, as its leaf commits to them."""

    position: int
    stream_id: str
    version: int
    topic: str
    recorded_us: int
    previous_hash: bytes
    payload: bytes

    def encode(self) -> bytes:
        return encode_leaf(
            self.position,
            self.stream_id,
            self.version,
            self.topic,
            self.recorded_us,
            self.previous_hash,
            self.payload,
        )


def stream_text(stream_id: UUID | str) -> str:
    """The canonical text of a stream id (UUIDs in their 36-character form)."""
    return str(stream_id)


def encode_leaf(
    position: int,
    stream_id: UUID | str,
    version: int,
    topic: str,
    recorded_us: int,
    previous_hash: bytes,
    payload: bytes,
) -> bytes:
    """The canonical leaf bytes (layout in the module docstring)."""
    for name, value in (
        ("position", position),
        ("version", version),
        ("recorded time", recorded_us),
    ):
        if not 0 <= value <= _U64_MAX:
            raise ValueError(f"{name} {value} does not fit in 8 unsigned bytes")
    if len(previous_hash) not in (0, 32):
        raise ValueError(f"previous hash must be 0 or 32 bytes, not {len(previous_hash)}")
    stream = stream_text(stream_id).encode()
    topic_bytes = topic.encode()
    return b"".join(
        (
            _TAG_FIELD,
            _U64_FIELD.pack(8, position),
            _U32.pack(len(stream)),
            stream,
            _U64_FIELD.pack(8, version),
            _U32.pack(len(topic_bytes)),
            topic_bytes,
            _U64_FIELD.pack(8, recorded_us),
            _U32.pack(len(previous_hash)),
            previous_hash,
            _U32.pack(len(payload)),
            payload,
        )
    )


def decode_leaf(data: bytes) -> LeafEvent:
    """Parse canonical leaf bytes; anything else (extra bytes, bad lengths) is refused."""
    fields: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(fields) == _FIELDS:
            raise LeafFormatError(f"{len(data) - offset} bytes after the last field")
        if offset + 4 > len(data):
            raise LeafFormatError(f"truncated length prefix at byte {offset}")
        (length,) = _U32.unpack_from(data, offset)
        offset += 4
        if offset + length > len(data):
            raise LeafFormatError(
                f"field {len(fields) + 1} wants {length} bytes; {len(data) - offset} remain"
            )
        fields.append(bytes(data[offset : offset + length]))
        offset += length
    if len(fields) != _FIELDS:
        raise LeafFormatError(f"a leaf has {_FIELDS} fields, this has {len(fields)}")
    tag, position, stream, version, topic, recorded, previous, payload = fields
    if tag != FORMAT_TAG:
        raise LeafFormatError(f"unknown leaf format {tag!r}")
    numbers = []
    for name, raw in (("position", position), ("version", version), ("recorded time", recorded)):
        if len(raw) != 8:
            raise LeafFormatError(f"{name} must be 8 bytes, not {len(raw)}")
        numbers.append(int.from_bytes(raw, "big"))
    if len(previous) not in (0, 32):
        raise LeafFormatError(f"previous hash must be 0 or 32 bytes, not {len(previous)}")
    try:
        stream_id, topic_text = stream.decode(), topic.decode()
    except UnicodeDecodeError as e:
        raise LeafFormatError(f"stream id or topic is not UTF-8: {e}") from None
    return LeafEvent(numbers[0], stream_id, numbers[1], topic_text, numbers[2], previous, payload)
