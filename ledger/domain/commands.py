"""Commands: the public import-line / request-body shapes of docs/contract.md.

``parse_command`` checks a raw JSON object field by field (types, required
and unknown fields, ranges, known CCG / scheme / measure / criterion /
standard) and returns a typed ``Command``; rules that depend on what the
ledger already holds (an active flag, a selected local measure) are checked by
the aggregate. Either way a rejected command stores nothing.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.domain.cases import CASE_ID, check_trust, parse_assignee
from ledger.domain.ccgs import ccgs, get_ccg
from ledger.domain.errors import InvalidCommand, RuleViolation, UnknownCCG, UnknownMeasure
from ledger.domain.jsontext import loads_strict, text_problem
from ledger.domain.scheme import DIRECTIONS, Scheme, get_scheme, schemes

COMMON_FIELDS = ("type", "ccg", "scheme", "reason", "actor")

#: type -> (required fields, optional fields) beyond the common ones
COMMAND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "population_recorded": (("population", "source"), ()),
    "local_measures_selected": (("measures",), ()),
    "threshold_agreed": (("measure", "criterion", "baseline", "target"), ()),
    "measure_submitted": (("measure", "criterion", "period", "value"), ()),
    "constitution_standard_submitted": (("standard", "period", "value"), ()),
    "quality_failure_flagged": (("flag_id", "description"), ()),
    "quality_failure_rescinded": (("flag_id",), ()),
    "financial_position_declared": (("outturn", "amount_pence"), ()),
    # HCAI cases (ledger/domain/cases.py): ``ccg`` is the patient's CCG of responsibility.
    "hcai_case_reported": (("case_id", "organism", "specimen_date", "trust"), ()),
    "hcai_case_assigned": (("case_id", "assigned_to", "assigned_by", "pir_reference"), ()),
    "hcai_case_withdrawn": (("case_id",), ()),
}
COMMAND_TYPES = tuple(COMMAND_FIELDS)
OUTTURNS = ("balanced", "overspend")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
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


@dataclass(frozen=True)
class Command:
    """A validated command. ``fields`` holds the type-specific fields, typed."""

    type: str
    ccg: str
    scheme: str
    fields: dict[str, Any]
    reason: str | None = None
    actor: str | None = None


def loads_line(text: str | bytes) -> Any:
    """Parse one import line keeping numbers exact; raise ``MalformedJSON`` if it can't be.

    No floats anywhere near money or thresholds; ``NaN`` and ``Infinity``
    parse to Decimals so the field check can name the field.
    """
    return loads_strict(text, constants=True)


def _text(raw: dict[str, Any], key: str, *, required: bool = True, empty: bool = False) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise InvalidCommand(f"{key}: required field is missing", field=key)
        return None
    if not isinstance(value, str):
        raise InvalidCommand(f"{key}: must be a string, got {_kind(value)}", field=key)
    if not empty and not value.strip():
        raise InvalidCommand(f"{key}: must not be empty", field=key)
    if len(value) > MAX_TEXT:
        raise InvalidCommand(f"{key}: longer than {MAX_TEXT} characters", field=key)
    # Read from JSON text this was checked already; a caller passing objects was not.
    problem = text_problem(value)
    if problem:
        raise InvalidCommand(f"{key}: {problem}", field=key)
    return value


def _shown(value: Any) -> str:
    """A value as the user wrote it (JSON), not as Python's repr."""
    text = str(value) if isinstance(value, Decimal) else json.dumps(value, default=str)
    return text if len(text) <= 40 else f"{text[:30]}…"


def _abbreviated(number: Decimal) -> str:
    text = str(number)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def _kind(value: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), "null" if value is None else "a number"
    )


def _number(
    raw: dict[str, Any], key: str, *, lo: Decimal | None = None, hi: Decimal | None = None
) -> Decimal:
    value = raw.get(key)
    if value is None:
        raise InvalidCommand(f"{key}: required field is missing", field=key)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise InvalidCommand(f"{key}: must be a number, got {_kind(value)}", field=key)
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite():
        raise InvalidCommand(f"{key}: must be a finite number", field=key)
    # Counted on the digits as written, not through normalize(): that rounds to
    # the context, and would pass 1e-9999999 as 0.
    digits = "".join(map(str, number.as_tuple().digits)).rstrip("0")
    problem = None
    if digits and number.adjusted() > MAX_MAGNITUDE:
        problem = f"is too large: the ledger keeps numbers below 10^{MAX_MAGNITUDE + 1}"
    elif digits and number.adjusted() < MIN_MAGNITUDE:
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
        raise InvalidCommand(f"{key}: {_abbreviated(number)} {problem}", field=key)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        allowed = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        raise InvalidCommand(f"{key}: {number} is outside {allowed}", field=key, allowed=allowed)
    return number


def _integer(raw: dict[str, Any], key: str, *, minimum: int, maximum: int) -> int:
    value = raw.get(key)
    if value is None:
        raise InvalidCommand(f"{key}: required field is missing", field=key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCommand(
            f"{key}: must be a whole number, got {_kind(value)} {_shown(value)}", field=key
        )
    if not minimum <= value <= maximum:
        raise InvalidCommand(
            f"{key}: must be between {minimum} and {maximum}, got {value}",
            field=key,
            allowed=f"{minimum}..{maximum}",
        )
    return value


def _period(raw: dict[str, Any], scheme: Scheme) -> str:
    period = _text(raw, "period")
    if period not in scheme.periods:
        raise InvalidCommand(
            f"period: {period!r} is not a period of {scheme.id}",
            field="period",
            allowed=list(scheme.periods),
        )
    return str(period)


def _local_measures(raw: dict[str, Any], scheme: Scheme) -> list[dict[str, str]]:
    measures = raw.get("measures")
    slots = scheme.local_slots
    if not isinstance(measures, list):
        raise InvalidCommand(
            "measures: must be a list of local measure selections", field="measures"
        )
    if len(measures) != len(slots):
        raise InvalidCommand(
            f"measures: exactly {len(slots)} selections are required, got {len(measures)}",
            field="measures",
            allowed=list(slots),
        )
    out: list[dict[str, str]] = []
    for i, item in enumerate(measures):
        where = f"measures[{i}]"
        if not isinstance(item, dict):
            raise InvalidCommand(f"{where}: must be an object", field=where)
        extra = sorted(set(item) - {"slot", "name", "criterion", "direction"})
        if extra:
            raise InvalidCommand(f"{where}: unknown field(s) {', '.join(extra)}", field=where)
        try:
            slot = _text(item, "slot")
            name = _text(item, "name")
            criterion = _text(item, "criterion")
            direction = _text(item, "direction")
        except InvalidCommand as e:
            raise InvalidCommand(f"{where}.{e.message}", field=f"{where}.{e.field}") from None
        if len(name) > MAX_NAME:
            raise InvalidCommand(
                f"{where}.name: longer than {MAX_NAME} characters", field=f"{where}.name"
            )
        if slot not in slots:
            raise InvalidCommand(
                f"{where}.slot: {slot!r} is not a local measure slot",
                field=f"{where}.slot",
                allowed=list(slots),
            )
        if not _NAME.match(criterion):
            raise InvalidCommand(
                f"{where}.criterion: {criterion!r} must be lower-case letters, digits and -",
                field=f"{where}.criterion",
            )
        if direction not in DIRECTIONS:
            raise InvalidCommand(
                f"{where}.direction: {direction!r} is not lower or higher",
                field=f"{where}.direction",
                allowed=list(DIRECTIONS),
            )
        out.append({"slot": slot, "name": name, "criterion": criterion, "direction": direction})
    chosen = sorted(m["slot"] for m in out)
    if chosen != sorted(slots):
        raise InvalidCommand(
            f"measures: each of {', '.join(slots)} must be selected once",
            field="measures",
            allowed=list(slots),
        )
    return out


def _measure_and_criterion(raw: dict[str, Any], scheme: Scheme) -> tuple[str, str]:
    measure_id = _text(raw, "measure")
    criterion_id = _text(raw, "criterion")
    measure = scheme.measure(measure_id)
    if measure is None:
        raise UnknownMeasure(
            f"measure: unknown measure {measure_id!r} in {scheme.id}",
            field="measure",
            allowed=[m.id for m in scheme.measures],
        )
    if not measure.local and measure.criterion(criterion_id) is None:
        raise UnknownMeasure(
            f"criterion: unknown criterion {criterion_id!r} for measure {measure_id}",
            field="criterion",
            allowed=[c.id for c in measure.criteria],
        )
    return str(measure_id), str(criterion_id)


def _case_id(raw: dict[str, Any]) -> str:
    case_id = _text(raw, "case_id")
    if not CASE_ID.match(case_id):
        raise InvalidCommand(
            f"case_id: {_shown(case_id)} must be 1 to 64 letters, digits and . _ - "
            "(starting with a letter or digit)",
            field="case_id",
        )
    return str(case_id)


def _specimen_date(raw: dict[str, Any]) -> str:
    text = _text(raw, "specimen_date")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        datetime.date.fromisoformat(text)
    except ValueError:
        raise InvalidCommand(
            f"specimen_date: {_shown(text)} is not a date (YYYY-MM-DD)", field="specimen_date"
        ) from None
    return str(text)


def _case_fields(kind: str, raw: dict[str, Any], scheme: Scheme) -> dict[str, Any]:
    """An HCAI case command: only in a scheme that counts cases (``case_organisms``)."""
    if not scheme.case_organisms:
        counting = sorted(s.id for s in schemes().values() if s.case_organisms)
        raise RuleViolation(
            f"scheme: {scheme.id} takes submitted case counts; HCAI cases are recorded in "
            f"a scheme that counts them ({', '.join(counting)})",
            field="scheme",
            allowed=counting,
        )
    case_id = _case_id(raw)
    if kind == "hcai_case_reported":
        organism = _text(raw, "organism")
        if organism not in scheme.case_organisms:
            raise InvalidCommand(
                f"organism: {_shown(organism)} is not counted by {scheme.id}",
                field="organism",
                allowed=list(scheme.case_organisms),
            )
        return {
            "case_id": case_id,
            "organism": organism,
            "specimen_date": _specimen_date(raw),
            "trust": check_trust(_text(raw, "trust"), "trust"),
        }
    if kind == "hcai_case_assigned":
        return {
            "case_id": case_id,
            "assigned_to": parse_assignee(_text(raw, "assigned_to")),
            "assigned_by": _text(raw, "assigned_by"),
            "pir_reference": _text(raw, "pir_reference"),
        }
    return {"case_id": case_id}


def _specific(kind: str, raw: dict[str, Any], scheme: Scheme) -> dict[str, Any]:
    if kind.startswith("hcai_case_"):
        return _case_fields(kind, raw, scheme)
    if kind == "population_recorded":
        return {
            "population": _integer(raw, "population", minimum=1, maximum=MAX_POPULATION),
            "source": _text(raw, "source"),
        }
    if kind == "local_measures_selected":
        return {"measures": _local_measures(raw, scheme)}
    if kind == "threshold_agreed":
        measure, criterion = _measure_and_criterion(raw, scheme)
        fixed = scheme.measure(measure).criterion(criterion)  # type: ignore[union-attr]
        if fixed is not None and fixed.fixed_target is not None:
            raise RuleViolation(
                f"criterion: {measure}/{criterion} has a target fixed by the scheme "
                f"({fixed.fixed_target}); it cannot be agreed",
                field="criterion",
            )
        return {
            "measure": measure,
            "criterion": criterion,
            "baseline": _number(raw, "baseline", lo=Decimal(0)),
            "target": _number(raw, "target", lo=Decimal(0)),
        }
    if kind == "measure_submitted":
        measure, criterion = _measure_and_criterion(raw, scheme)
        spec = scheme.measure(measure).criterion(criterion)  # type: ignore[union-attr]
        if spec is not None and spec.derived_from_cases is not None:
            raise RuleViolation(
                f"criterion: {measure}/{criterion} is counted from the {spec.derived_from_cases} "
                f"cases assigned to the CCG in {scheme.id}; it cannot be submitted "
                "(send hcai_case_reported and hcai_case_assigned)",
                field="criterion",
            )
        return {
            "measure": measure,
            "criterion": criterion,
            "period": _period(raw, scheme),
            "value": _number(raw, "value", lo=Decimal(0)),
        }
    if kind == "constitution_standard_submitted":
        standard = _text(raw, "standard")
        if scheme.standard(standard) is None:
            raise UnknownMeasure(
                f"standard: unknown constitution standard {standard!r}",
                field="standard",
                allowed=[s.id for s in scheme.standards],
            )
        return {
            "standard": standard,
            "period": _period(raw, scheme),
            "value": _number(raw, "value", lo=Decimal(0), hi=Decimal(1)),
        }
    if kind == "quality_failure_flagged":
        return {"flag_id": _text(raw, "flag_id"), "description": _text(raw, "description")}
    if kind == "quality_failure_rescinded":
        return {"flag_id": _text(raw, "flag_id")}
    outturn = _text(raw, "outturn")
    if outturn not in OUTTURNS:
        raise InvalidCommand(
            f"outturn: {outturn!r} is not balanced or overspend",
            field="outturn",
            allowed=list(OUTTURNS),
        )
    return {
        "outturn": outturn,
        "amount_pence": _integer(raw, "amount_pence", minimum=0, maximum=MAX_PENCE),
    }


def parse_command(raw: Any) -> Command:
    """Validate one command object against the contract; raise a ``LedgerError`` if bad."""
    if not isinstance(raw, dict):
        raise InvalidCommand("a command must be a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in COMMAND_FIELDS:
        raise InvalidCommand(
            f"type: {kind!r} is not a command type", field="type", allowed=list(COMMAND_TYPES)
        )
    required, optional = COMMAND_FIELDS[kind]
    unknown = sorted(set(raw) - set(COMMON_FIELDS) - set(required) - set(optional))
    if unknown:
        raise InvalidCommand(
            f"unknown field(s) for {kind}: {', '.join(unknown)}",
            field=unknown[0],
            allowed=sorted({*required, *COMMON_FIELDS}),
        )
    ccg = _text(raw, "ccg")
    if get_ccg(ccg) is None:
        raise UnknownCCG(
            f"ccg: unknown CCG code {ccg!r} (not one of the {len(ccgs())} CCGs of April 2013)",
            field="ccg",
        )
    scheme = get_scheme(_text(raw, "scheme"))
    return Command(
        type=kind,
        ccg=ccg,
        scheme=scheme.id,
        fields=_specific(kind, raw, scheme),
        reason=_text(raw, "reason", required=False, empty=True),
        actor=_text(raw, "actor", required=False),
    )
