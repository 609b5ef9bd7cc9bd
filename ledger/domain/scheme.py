"""Quality Premium schemes as data.

The scheme changed every year (2014/15 and 2015/16 had other measures and
weights), so the rules live in JSON files under ``ledger/schemes/`` and a new
year needs no code change. Files are validated on load and every error names
the offending field, because a silently wrong share or threshold would pay the
wrong money.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, Literal

from ledger.domain.errors import SchemeDefinitionError, UnknownScheme

Direction = Literal["lower", "higher"]
DIRECTIONS: tuple[str, ...] = ("lower", "higher")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
#: The organisms a criterion may count cases of (issue 14: MRSA bloodstream infections).
ORGANISMS: tuple[str, ...] = ("mrsa",)


@dataclass(frozen=True)
class Criterion:
    id: str
    direction: Direction
    #: ``None`` when the target is agreed between the CCG and its area team.
    fixed_target: Decimal | None
    #: The organism whose case events give this criterion's value (the cases
    #: specimen-dated in the year and assigned to the CCG), or ``None`` when the
    #: value is submitted (``measure_submitted``) as in the original 2013/14 scheme.
    derived_from_cases: str | None = None


@dataclass(frozen=True)
class Measure:
    id: str
    name: str
    share: Decimal
    criteria: tuple[Criterion, ...]
    #: Local measures name their single criterion when the CCG selects them.
    local: bool

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)


@dataclass(frozen=True)
class Standard:
    id: str
    name: str
    direction: Direction
    threshold: Decimal


@dataclass(frozen=True)
class Scheme:
    id: str
    title: str
    year: str
    assessment_period: str
    pence_per_head: int
    appeal_window_days: int
    measures: tuple[Measure, ...]
    reduction_per_standard: Decimal
    standards: tuple[Standard, ...]
    #: SHA-256 of the canonical JSON of the definition: part of every inputs digest,
    #: so a decision records exactly which rules it was computed under.
    digest: str

    def measure(self, measure_id: str) -> Measure | None:
        return next((m for m in self.measures if m.id == measure_id), None)

    def standard(self, standard_id: str) -> Standard | None:
        return next((s for s in self.standards if s.id == standard_id), None)

    @property
    def case_organisms(self) -> tuple[str, ...]:
        """The organisms whose cases this scheme counts (empty: cases are not recorded here)."""
        found = (c.derived_from_cases for m in self.measures for c in m.criteria)
        return tuple(sorted({o for o in found if o is not None}))

    @property
    def year_dates(self) -> tuple[str, str]:
        """First and last day (ISO dates) of the scheme year: April to March."""
        start = int(self.year[:4])
        return f"{start}-04-01", f"{start + 1}-03-31"

    @property
    def local_slots(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.measures if m.local)

    @property
    def periods(self) -> tuple[str, ...]:
        """The periods a value may be submitted for: the year and its quarters.

        Only the assessment period (the whole year) decides a criterion; the
        quarterly figures are kept as the in-year record.
        """
        return (self.year, *(f"{self.year}-Q{q}" for q in range(1, 5)))


def _req(obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise SchemeDefinitionError(f"{where}.{key}: required field is missing")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SchemeDefinitionError(f"{where}.{key}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _decimal(text: Any, where: str) -> Decimal:
    if not isinstance(text, str):
        raise SchemeDefinitionError(f'{where}: expected a decimal string such as "0.125"')
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SchemeDefinitionError(f"{where}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise SchemeDefinitionError(f"{where}: {text!r} is not a finite number")
    return value


def _ident(obj: dict[str, Any], where: str, seen: set[str]) -> str:
    ident = _req(obj, "id", where, str)
    if not _ID.match(ident):
        raise SchemeDefinitionError(f"{where}.id: {ident!r} must be lower-case letters, digits, -")
    if ident in seen:
        raise SchemeDefinitionError(f"{where}.id: {ident!r} is used twice")
    seen.add(ident)
    return str(ident)


def _direction(obj: dict[str, Any], where: str) -> Direction:
    direction = _req(obj, "direction", where, str)
    if direction not in DIRECTIONS:
        raise SchemeDefinitionError(f"{where}.direction: {direction!r} is not one of {DIRECTIONS}")
    return "lower" if direction == "lower" else "higher"


def _criterion(obj: Any, where: str, seen: set[str]) -> Criterion:
    if not isinstance(obj, dict):
        raise SchemeDefinitionError(f"{where}: expected an object")
    ident = _ident(obj, where, seen)
    target = _req(obj, "target", where, str)
    fixed = None if target == "agreed" else _decimal(target, f"{where}.target")
    return Criterion(
        id=ident,
        direction=_direction(obj, where),
        fixed_target=fixed,
        derived_from_cases=_value_source(obj, where),
    )


def _value_source(obj: dict[str, Any], where: str) -> str | None:
    """``"value"``: ``"submitted"`` (the default) or ``{"from": "cases", "organism": "mrsa"}``."""
    value = obj.get("value", "submitted")
    if value == "submitted":
        return None
    if (
        not isinstance(value, dict)
        or set(value) != {"from", "organism"}
        or value["from"] != "cases"
    ):
        raise SchemeDefinitionError(
            f'{where}.value: expected "submitted" or {{"from": "cases", "organism": ...}}'
        )
    if value["organism"] not in ORGANISMS:
        raise SchemeDefinitionError(
            f"{where}.value.organism: {value['organism']!r} is not one of {ORGANISMS}"
        )
    if obj.get("direction") != "lower" or obj.get("target") == "agreed":
        raise SchemeDefinitionError(
            f"{where}: a count of cases needs direction lower and a fixed target"
        )
    return str(value["organism"])


def _measure(obj: Any, where: str, seen: set[str]) -> Measure:
    if not isinstance(obj, dict):
        raise SchemeDefinitionError(f"{where}: expected an object")
    ident = _ident(obj, where, seen)
    share = _decimal(_req(obj, "share", where, str), f"{where}.share")
    if not Decimal(0) < share <= Decimal(1):
        raise SchemeDefinitionError(f"{where}.share: {share} must be in (0, 1]")
    local = _req(obj, "local", where, bool) if "local" in obj else False
    criteria: tuple[Criterion, ...] = ()
    if local:
        if "criteria" in obj:
            raise SchemeDefinitionError(
                f"{where}.criteria: a local measure's criterion is named when the CCG selects it"
            )
    else:
        raw = _req(obj, "criteria", where, list)
        if not raw:
            raise SchemeDefinitionError(f"{where}.criteria: at least one criterion is required")
        names: set[str] = set()
        criteria = tuple(_criterion(c, f"{where}.criteria[{i}]", names) for i, c in enumerate(raw))
    return Measure(
        id=ident,
        name=_req(obj, "name", where, str),
        share=share,
        criteria=criteria,
        local=local,
    )


def _standard(obj: Any, where: str, seen: set[str]) -> Standard:
    if not isinstance(obj, dict):
        raise SchemeDefinitionError(f"{where}: expected an object")
    ident = _ident(obj, where, seen)
    threshold = _decimal(_req(obj, "threshold", where, str), f"{where}.threshold")
    if not Decimal(0) <= threshold <= Decimal(1):
        raise SchemeDefinitionError(f"{where}.threshold: {threshold} must be a fraction in 0..1")
    return Standard(
        id=ident,
        name=_req(obj, "name", where, str),
        direction=_direction(obj, where),
        threshold=threshold,
    )


def parse_scheme(data: Any, *, source: str = "scheme") -> Scheme:
    """Validate a scheme definition (parsed JSON) and build the typed scheme.

    Rules checked: ids unique and well formed, shares in (0, 1] summing to
    exactly 1, every criterion's direction and target given, constitution
    thresholds are fractions, the assessment period is the scheme year.
    """
    if not isinstance(data, dict):
        raise SchemeDefinitionError(f"{source}: expected a JSON object")
    ident = _req(data, "id", source, str)
    year = _req(data, "year", source, str)
    if not _YEAR.match(year) or (int(year[:4]) + 1) % 100 != int(year[5:]):
        raise SchemeDefinitionError(f"{source}.year: {year!r} must look like 2013-14")
    assessment = _req(data, "assessment_period", source, str)
    if assessment != year:
        raise SchemeDefinitionError(f"{source}.assessment_period: must be the scheme year {year}")
    pence = _req(data, "pence_per_head", source, int)
    if pence <= 0:
        raise SchemeDefinitionError(f"{source}.pence_per_head: must be a positive integer")
    window = _req(data, "appeal_window_days", source, int)
    if window <= 0:
        raise SchemeDefinitionError(f"{source}.appeal_window_days: must be a positive integer")
    raw_measures = _req(data, "measures", source, list)
    seen: set[str] = set()
    measures = tuple(
        _measure(m, f"{source}.measures[{i}]", seen) for i, m in enumerate(raw_measures)
    )
    total = sum((m.share for m in measures), Decimal(0))
    if total != Decimal(1):
        raise SchemeDefinitionError(f"{source}.measures: shares sum to {total}, not 1")
    constitution = _req(data, "constitution", source, dict)
    where = f"{source}.constitution"
    reduction = _decimal(
        _req(constitution, "reduction_per_standard", where, str), f"{where}.reduction_per_standard"
    )
    if not Decimal(0) <= reduction <= Decimal(1):
        raise SchemeDefinitionError(f"{where}.reduction_per_standard: must be in 0..1")
    std_seen: set[str] = set()
    standards = tuple(
        _standard(s, f"{where}.standards[{i}]", std_seen)
        for i, s in enumerate(_req(constitution, "standards", where, list))
    )
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Scheme(
        id=ident,
        title=_req(data, "title", source, str),
        year=year,
        assessment_period=assessment,
        pence_per_head=pence,
        appeal_window_days=window,
        measures=measures,
        reduction_per_standard=reduction,
        standards=standards,
        digest="sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


@cache
def schemes() -> dict[str, Scheme]:
    """Every scheme shipped in ``ledger/schemes/``, keyed by id."""
    out: dict[str, Scheme] = {}
    for entry in sorted(resources.files("ledger.schemes").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            scheme = parse_scheme(json.loads(entry.read_text("utf-8")), source=entry.name)
            if scheme.id != entry.name.removesuffix(".json"):
                raise SchemeDefinitionError(f"{entry.name}.id: must match the file name")
            out[scheme.id] = scheme
    return out


def get_scheme(scheme_id: str) -> Scheme:
    try:
        return schemes()[scheme_id]
    except KeyError:
        raise UnknownScheme(
            f"scheme: unknown scheme {scheme_id!r}", field="scheme", allowed=sorted(schemes())
        ) from None
