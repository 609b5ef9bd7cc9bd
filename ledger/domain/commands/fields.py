"""The field rules every command shares: text, numbers, periods, measures.

Each parser reads one field of the raw object and either returns it typed or
raises an ``InvalidCommand`` naming the field, in words a user can act on.
Several commands share each rule, so a limit is stated once, here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from ledger.domain.errors import InvalidCommand, UnknownMeasure
from ledger.domain.jsontext import text_problem
from ledger.domain.scheme import Criterion, Scheme

MAX_TEXT = 2000
#: A local measure's name is a column of the read models (VARCHAR(200)): a longer
#: one would be stored here and then stall every projector that reads it.
MAX_NAME = 200
#: Bounds that keep every figure exact end to end (a JSON number of at most 15
#: significant digits, between 10^-12 and 10^13, survives any reader, binary
#: floats included, so a decision shows exactly the figure stored), and far
#: beyond anything real: the largest CCG had under a million patients; England
#: 56 million; rates and fractions are given to a few decimal places.
MAX_DIGITS = 15
MAX_MAGNITUDE = 12
MIN_MAGNITUDE = -12
MAX_POPULATION = 100_000_000
MAX_PENCE = 10**15


def text(raw: dict[str, Any], key: str, *, required: bool = True, empty: bool = False) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise InvalidCommand(f"{key}: required field is missing", field=key)
        return None
    if not isinstance(value, str):
        raise InvalidCommand(f"{key}: must be a string, got {kind(value)}", field=key)
    if not empty and not value.strip():
        raise InvalidCommand(f"{key}: must not be empty", field=key)
    if len(value) > MAX_TEXT:
        raise InvalidCommand(f"{key}: longer than {MAX_TEXT} characters", field=key)
    # Read from JSON text this was checked already; a caller passing objects was not.
    problem = text_problem(value)
    if problem:
        raise InvalidCommand(f"{key}: {problem}", field=key)
    return value


def shown(value: Any) -> str:
    """A value as the user wrote it (JSON), not as Python's repr."""
    written = str(value) if isinstance(value, Decimal) else json.dumps(value, default=str)
    return written if len(written) <= 40 else f"{written[:30]}…"


def _abbreviated(number: Decimal) -> str:
    written = str(number)
    return written if len(written) <= 40 else f"{written[:20]}…({len(written)} characters)"


def kind(value: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), "null" if value is None else "a number"
    )


def number(
    raw: dict[str, Any], key: str, *, lo: Decimal | None = None, hi: Decimal | None = None
) -> Decimal:
    value = raw.get(key)
    if value is None:
        raise InvalidCommand(f"{key}: required field is missing", field=key)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise InvalidCommand(f"{key}: must be a number, got {kind(value)}", field=key)
    figure = value if isinstance(value, Decimal) else Decimal(str(value))
    if not figure.is_finite():
        raise InvalidCommand(f"{key}: must be a finite number", field=key)
    # Counted on the digits as written, not through normalize(): that rounds to
    # the context, and would pass 1e-9999999 as 0.
    digits = "".join(map(str, figure.as_tuple().digits)).rstrip("0")
    problem = None
    if digits and figure.adjusted() > MAX_MAGNITUDE:
        problem = f"is too large: the ledger keeps numbers below 10^{MAX_MAGNITUDE + 1}"
    elif digits and figure.adjusted() < MIN_MAGNITUDE:
        problem = (
            f"is too small: the ledger keeps 0 or numbers of at least 10^{MIN_MAGNITUDE}, "
            "so that every figure shows exactly as it was sent"
        )
    elif len(digits) > MAX_DIGITS:
        problem = (
            f"has {len(digits)} significant digits: the ledger keeps at most {MAX_DIGITS} "
            "and never rounds what it was sent"
        )
    if problem:
        raise InvalidCommand(f"{key}: {_abbreviated(figure)} {problem}", field=key)
    if (lo is not None and figure < lo) or (hi is not None and figure > hi):
        allowed = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        raise InvalidCommand(f"{key}: {figure} is outside {allowed}", field=key, allowed=allowed)
    return figure


def integer(raw: dict[str, Any], key: str, *, minimum: int, maximum: int) -> int:
    value = raw.get(key)
    if value is None:
        raise InvalidCommand(f"{key}: required field is missing", field=key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCommand(
            f"{key}: must be a whole number, got {kind(value)} {shown(value)}", field=key
        )
    if not minimum <= value <= maximum:
        raise InvalidCommand(
            f"{key}: must be between {minimum} and {maximum}, got {value}",
            field=key,
            allowed=f"{minimum}..{maximum}",
        )
    return value


def one_of(
    raw: dict[str, Any],
    key: str,
    allowed: Sequence[str],
    problem: str,
    *,
    written: Callable[[Any], str] = repr,
) -> str:
    """A text field that must be one of ``allowed``; else ``problem`` after the value."""
    value = text(raw, key)
    if value not in allowed:
        raise InvalidCommand(f"{key}: {written(value)} {problem}", field=key, allowed=list(allowed))
    return str(value)


def period(raw: dict[str, Any], scheme: Scheme) -> str:
    return one_of(raw, "period", scheme.periods, f"is not a period of {scheme.id}")


def measure_and_criterion(raw: dict[str, Any], scheme: Scheme) -> tuple[str, str, Criterion | None]:
    """The measure and criterion named, and the criterion as the scheme defines it
    (``None`` for a local measure's: the CCG names it when it selects the measure)."""
    measure_id = text(raw, "measure")
    criterion_id = text(raw, "criterion")
    measure = scheme.measure(measure_id)
    if measure is None:
        raise UnknownMeasure(
            f"measure: unknown measure {measure_id!r} in {scheme.id}",
            field="measure",
            allowed=[m.id for m in scheme.measures],
        )
    spec = measure.criterion(criterion_id)
    if not measure.local and spec is None:
        raise UnknownMeasure(
            f"criterion: unknown criterion {criterion_id!r} for measure {measure_id}",
            field="criterion",
            allowed=[c.id for c in measure.criteria],
        )
    return str(measure_id), str(criterion_id), spec
