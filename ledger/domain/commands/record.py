"""The commands that record one fact on a CCG's record (``ledger/domain/record.py``).

Each parses its own fields (the rules that need only the command and the
scheme) and applies itself to the record: first the rules that depend on
what the record holds, then the record's event method, which is the fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self

from ledger.domain.commands.base import Command, envelope
from ledger.domain.commands.fields import (
    MAX_NAME,
    MAX_PENCE,
    MAX_POPULATION,
    integer,
    measure_and_criterion,
    number,
    one_of,
    period,
    text,
)
from ledger.domain.errors import InvalidCommand, RuleViolation, UnknownMeasure
from ledger.domain.record import CCGPremiumRecord
from ledger.domain.scheme import DIRECTIONS, Scheme

OUTTURNS = ("balanced", "overspend")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True, kw_only=True)
class RecordPopulation(Command):
    type = "population_recorded"
    writer = "board"

    population: int
    source: str

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(
            population=integer(raw, "population", minimum=1, maximum=MAX_POPULATION),
            source=text(raw, "source"),
            **envelope(raw, scheme),
        )

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.record_population(self.population, self.source, actor, reason)


@dataclass(frozen=True, kw_only=True)
class SelectLocalMeasures(Command):
    type = "local_measures_selected"
    writer = "ccg"

    #: One ``{slot, name, criterion, direction}`` per local slot of the scheme.
    measures: list[dict[str, str]]

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(measures=_local_measures(raw, scheme), **envelope(raw, scheme))

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.select_local_measures(self.measures, actor, reason)


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
            slot = text(item, "slot")
            name = text(item, "name")
            criterion = text(item, "criterion")
            direction = text(item, "direction")
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


@dataclass(frozen=True, kw_only=True)
class AgreeThreshold(Command):
    type = "threshold_agreed"
    writer = "area-team"

    measure: str
    criterion: str
    baseline: Decimal
    target: Decimal

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        measure, criterion, fixed = measure_and_criterion(raw, scheme)
        if fixed is not None and fixed.fixed_target is not None:
            raise RuleViolation(
                f"criterion: {measure}/{criterion} has a target fixed by the scheme "
                f"({fixed.fixed_target}); it cannot be agreed",
                field="criterion",
            )
        return cls(
            measure=measure,
            criterion=criterion,
            baseline=number(raw, "baseline", lo=Decimal(0)),
            target=number(raw, "target", lo=Decimal(0)),
            **envelope(raw, scheme),
        )

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.criterion_direction(self.measure, self.criterion)
        record.agree_threshold(
            self.measure, self.criterion, self.baseline, self.target, actor, reason
        )


@dataclass(frozen=True, kw_only=True)
class SubmitMeasure(Command):
    type = "measure_submitted"
    writer = "ccg"

    measure: str
    criterion: str
    period: str
    value: Decimal

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        measure, criterion, spec = measure_and_criterion(raw, scheme)
        if spec is not None and spec.derived_from_cases is not None:
            raise RuleViolation(
                f"criterion: {measure}/{criterion} is counted from the {spec.derived_from_cases} "
                f"cases assigned to the CCG in {scheme.id}; it cannot be submitted "
                "(send hcai_case_reported and hcai_case_assigned)",
                field="criterion",
            )
        return cls(
            measure=measure,
            criterion=criterion,
            period=period(raw, scheme),
            value=number(raw, "value", lo=Decimal(0)),
            **envelope(raw, scheme),
        )

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.criterion_direction(self.measure, self.criterion)
        record.submit_measure(self.measure, self.criterion, self.period, self.value, actor, reason)


@dataclass(frozen=True, kw_only=True)
class SubmitConstitutionStandard(Command):
    type = "constitution_standard_submitted"
    writer = "board"

    standard: str
    period: str
    value: Decimal

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        standard = text(raw, "standard")
        if scheme.standard(standard) is None:
            raise UnknownMeasure(
                f"standard: unknown constitution standard {standard!r}",
                field="standard",
                allowed=[s.id for s in scheme.standards],
            )
        return cls(
            standard=standard,
            period=period(raw, scheme),
            value=number(raw, "value", lo=Decimal(0), hi=Decimal(1)),
            **envelope(raw, scheme),
        )

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.submit_standard(self.standard, self.period, self.value, actor, reason)


@dataclass(frozen=True, kw_only=True)
class FlagQualityFailure(Command):
    type = "quality_failure_flagged"
    writer = "board"

    flag_id: str
    description: str

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(
            flag_id=text(raw, "flag_id"),
            description=text(raw, "description"),
            **envelope(raw, scheme),
        )

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.check_flag_is_new(self.flag_id)
        record.flag_quality_failure(self.flag_id, self.description, actor, reason)


@dataclass(frozen=True, kw_only=True)
class RescindQualityFailure(Command):
    type = "quality_failure_rescinded"
    writer = "board"

    flag_id: str

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(flag_id=text(raw, "flag_id"), **envelope(raw, scheme))

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.check_flag_is_active(self.flag_id)
        record.rescind_quality_failure(self.flag_id, actor, reason)


@dataclass(frozen=True, kw_only=True)
class DeclareFinancialPosition(Command):
    type = "financial_position_declared"
    writer = "ccg"

    outturn: str
    amount_pence: int

    @classmethod
    def parse(cls, raw: dict[str, Any], scheme: Scheme) -> Self:
        return cls(
            outturn=one_of(raw, "outturn", OUTTURNS, "is not balanced or overspend"),
            amount_pence=integer(raw, "amount_pence", minimum=0, maximum=MAX_PENCE),
            **envelope(raw, scheme),
        )

    def apply_to(self, record: CCGPremiumRecord, actor: str, reason: str | None) -> None:
        record.declare_financial_position(self.outturn, self.amount_pence, actor, reason)
