"""Domain errors.

Every rejection the contract describes is one of these classes, so the CLI and
the HTTP adapter can map them to exit codes and problem documents in one place
and a caller can tell *why* something was refused without parsing prose.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class: a request the ledger refuses. Nothing is stored when raised."""

    #: A short machine-readable code, used as the problem type suffix over HTTP.
    code = "ledger-error"

    def __init__(self, message: str, *, field: str | None = None, allowed: object = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.allowed = allowed

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.allowed is not None:
            out["allowed"] = self.allowed
        return out


class InvalidCommand(LedgerError):
    """The command is malformed: a missing or wrongly-typed field, a bad value."""

    code = "invalid-command"


class MalformedJSON(InvalidCommand, ValueError):
    """The text is not one JSON value the ledger can read exactly (ledger/domain/jsontext.py).

    Also a ``ValueError``, as ``json.loads`` errors are, so callers that catch
    those for bad JSON keep working.
    """

    code = "invalid-json"


class UnknownCCG(LedgerError):
    """The ODS code is not one of the 211 CCGs in the reference data."""

    code = "unknown-ccg"


class UnknownScheme(LedgerError):
    code = "unknown-scheme"


class UnknownMeasure(LedgerError):
    """The measure, criterion or constitution standard is not in the scheme."""

    code = "unknown-measure"


class RuleViolation(LedgerError):
    """The command is well formed but breaks a rule of the scheme or the ledger's state."""

    code = "rule-violation"


class NotFound(LedgerError):
    code = "not-found"


class NothingRecorded(NotFound):
    """The CCG's record held no events at the moment asked about.

    Decided from no facts at all, the engine would show a £0 provisional
    premium, which reads as a finding; there is none. So a decision (or an
    issue) at such a moment is refused, saying where the record starts.
    """

    code = "nothing-recorded"


class DecisionUnchanged(RuleViolation):
    """Issuing would repeat the CCG's latest issue: the same inputs, so the same decision.

    An issue is a determination the CCG can appeal; a second, identical one
    only lengthens the chain. The Board can still force it (a re-issue for the
    record's sake), and a revision that follows an upheld appeal is never refused.
    """

    code = "decision-unchanged"


class ConcurrencyConflict(LedgerError):
    """The stream moved on since the caller last read it (optimistic concurrency)."""

    code = "concurrency-conflict"


class IdempotencyKeyReused(LedgerError):
    """The Idempotency-Key was already used by this caller for a different request."""

    code = "idempotency-key-reused"


class UnknownEngine(LedgerError):
    code = "unknown-engine"


class SchemeDefinitionError(Exception):
    """A shipped or supplied scheme data file is invalid; names the bad field."""
