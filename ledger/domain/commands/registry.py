"""The one map from the contract's command type to its class, and ``parse_command``."""

from __future__ import annotations

from typing import Any

from ledger.domain.ccgs import ccgs, get_ccg
from ledger.domain.commands import cases, record
from ledger.domain.commands.base import COMMON_FIELDS, Command
from ledger.domain.commands.fields import text
from ledger.domain.errors import InvalidCommand, UnknownCCG
from ledger.domain.scheme import get_scheme

#: type -> its command class, in the contract's order (docs/contract.md). A new
#: command is one class in record.py (or cases.py) and one line here.
COMMANDS: dict[str, type[Command]] = {
    command.type: command
    for command in (
        record.RecordPopulation,
        record.SelectLocalMeasures,
        record.AgreeThreshold,
        record.SubmitMeasure,
        record.SubmitConstitutionStandard,
        record.FlagQualityFailure,
        record.RescindQualityFailure,
        record.DeclareFinancialPosition,
        # HCAI cases (ledger/domain/cases.py): ``ccg`` is the patient's CCG of responsibility.
        cases.ReportCase,
        cases.AssignCase,
        cases.WithdrawCase,
    )
}
COMMAND_TYPES = tuple(COMMANDS)
#: type -> (required fields, optional fields) beyond the common ones
COMMAND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    kind: (command.required(), command.optional) for kind, command in COMMANDS.items()
}


def parse_command(raw: Any) -> Command:
    """Validate one command object against the contract; raise a ``LedgerError`` if bad."""
    if not isinstance(raw, dict):
        raise InvalidCommand("a command must be a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in COMMANDS:
        raise InvalidCommand(
            f"type: {kind!r} is not a command type", field="type", allowed=list(COMMAND_TYPES)
        )
    command = COMMANDS[kind]
    required, optional = COMMAND_FIELDS[kind]
    unknown = sorted(set(raw) - set(COMMON_FIELDS) - set(required) - set(optional))
    if unknown:
        raise InvalidCommand(
            f"unknown field(s) for {kind}: {', '.join(unknown)}",
            field=unknown[0],
            allowed=sorted({*required, *COMMON_FIELDS}),
        )
    ccg = text(raw, "ccg")
    if get_ccg(ccg) is None:
        raise UnknownCCG(
            f"ccg: unknown CCG code {ccg!r} (not one of the {len(ccgs())} CCGs of April 2013)",
            field="ccg",
        )
    return command.parse(raw, get_scheme(text(raw, "scheme")))
