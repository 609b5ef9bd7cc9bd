"""Recorded time: microseconds since the epoch in storage, ISO-8601 UTC outside.

Integers in storage keep recorded times exact and strictly ordered on both
SQLite and PostgreSQL; one rendering (``…Z``, microseconds) keeps documents
byte-stable across replays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.domain.errors import InvalidCommand

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def us_to_iso(us: int) -> str:
    moment = _NAIVE_EPOCH + timedelta(microseconds=us)
    return moment.isoformat(timespec="microseconds") + "Z"


def to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_instant(text: str, *, field: str = "as_of") -> datetime:
    """Parse an ISO-8601 instant; a time without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidCommand(
            f"{field}: {text!r} is not an ISO-8601 date-time (e.g. 2014-04-01T09:00:00Z)",
            field=field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidCommand(f"{field}: {text!r} is out of range", field=field) from None
