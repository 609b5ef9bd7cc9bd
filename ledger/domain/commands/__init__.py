"""Commands: the public import-line / request-body shapes of docs/contract.md.

One frozen dataclass per command type, named for what it asks
(``SubmitMeasure`` for ``measure_submitted``): ``record.py`` holds those that
record a fact on a CCG's record, ``cases.py`` those about an HCAI case,
``fields.py`` the field rules they share, and ``registry.py`` the one map from
type string to class. ``parse_command`` checks a raw JSON object field by
field (types, required and unknown fields, ranges, known CCG / scheme /
measure / criterion / standard) and returns the typed command; rules that
depend on what the ledger already holds (an active flag, a selected local
measure) are checked when the command is applied (``Command.apply_to``).
Either way a rejected command stores nothing.

A new command: a dataclass in ``record.py`` with its ``type``, fields,
``parse`` and ``apply_to``, an ``@event`` method on the aggregate that
``apply_to`` calls, and its line in ``registry.COMMANDS``.
"""

from __future__ import annotations

from typing import Any

from ledger.domain.commands.base import COMMON_FIELDS, Command
from ledger.domain.commands.cases import (
    AssignCase,
    CaseCommand,
    CaseMove,
    ReportCase,
    WithdrawCase,
)
from ledger.domain.commands.fields import (
    MAX_DIGITS,
    MAX_MAGNITUDE,
    MAX_NAME,
    MAX_PENCE,
    MAX_POPULATION,
    MAX_TEXT,
    MIN_MAGNITUDE,
)
from ledger.domain.commands.record import (
    OUTTURNS,
    AgreeThreshold,
    DeclareFinancialPosition,
    FlagQualityFailure,
    RecordPopulation,
    RescindQualityFailure,
    SelectLocalMeasures,
    SubmitConstitutionStandard,
    SubmitMeasure,
)
from ledger.domain.commands.registry import (
    COMMAND_FIELDS,
    COMMAND_TYPES,
    COMMANDS,
    parse_command,
)
from ledger.domain.jsontext import loads_strict


def loads_line(text: str | bytes) -> Any:
    """Parse one import line keeping numbers exact; raise ``MalformedJSON`` if it can't be.

    No floats anywhere near money or thresholds; ``NaN`` and ``Infinity``
    parse to Decimals so the field check can name the field.
    """
    return loads_strict(text, constants=True)


__all__ = [
    "COMMANDS",
    "COMMAND_FIELDS",
    "COMMAND_TYPES",
    "COMMON_FIELDS",
    "MAX_DIGITS",
    "MAX_MAGNITUDE",
    "MAX_NAME",
    "MAX_PENCE",
    "MAX_POPULATION",
    "MAX_TEXT",
    "MIN_MAGNITUDE",
    "OUTTURNS",
    "AgreeThreshold",
    "AssignCase",
    "CaseCommand",
    "CaseMove",
    "Command",
    "DeclareFinancialPosition",
    "FlagQualityFailure",
    "RecordPopulation",
    "ReportCase",
    "RescindQualityFailure",
    "SelectLocalMeasures",
    "SubmitConstitutionStandard",
    "SubmitMeasure",
    "WithdrawCase",
    "loads_line",
    "parse_command",
]
