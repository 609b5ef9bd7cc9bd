"""Write endpoints: one resource per command of docs/contract.md, named in the users' words.

Each takes the contract's command body unchanged (``type``, ``ccg`` and
``scheme`` may be left out, as the path says them) and answers ``201`` with the
receipt: event id, the CCG record's new version, the log position and the
recorded time. ``Idempotency-Key`` makes a retry safe; ``If-Match`` (an ETag
from a decision or history read) makes the write conditional on the record not
having moved on.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from api import schemas
from api.auth import allow, current_token
from api.context import ledger
from api.etags import expected_version
from api.jsonio import Blueprint
from api.problems import Problem

blp = Blueprint(
    "commands",
    __name__,
    url_prefix="/ccgs/<ccg>/schemes/<scheme>",
    description="Record facts about a CCG's premium: one resource per command type.",
)

#: command type -> (path under the CCG's scheme record, body schema, summary)
COMMANDS: dict[str, tuple[str, type[schemas.CommandBase], str]] = {
    "population_recorded": (
        "population",
        schemas.PopulationRecorded,
        "Record the CCG's population",
    ),
    "local_measures_selected": (
        "local-measures",
        schemas.LocalMeasuresSelected,
        "Select the CCG's three local measures",
    ),
    "threshold_agreed": (
        "thresholds",
        schemas.ThresholdAgreed,
        "Agree an improvement threshold with the CCG",
    ),
    "measure_submitted": (
        "measure-values",
        schemas.MeasureSubmitted,
        "Submit a measure value for a period",
    ),
    "constitution_standard_submitted": (
        "constitution-results",
        schemas.ConstitutionStandardSubmitted,
        "Record an NHS Constitution standard result",
    ),
    "quality_failure_flagged": (
        "quality-failures",
        schemas.QualityFailureFlagged,
        "Flag a serious quality failure",
    ),
    "quality_failure_rescinded": (
        "quality-failure-rescissions",
        schemas.QualityFailureRescinded,
        "Rescind an active quality failure flag",
    ),
    "financial_position_declared": (
        "financial-position",
        schemas.FinancialPositionDeclared,
        "Declare the year-end financial position",
    ),
    # HCAI cases (issue 14): the path's CCG is the one the case is reported against.
    "hcai_case_reported": (
        "hcai-cases",
        schemas.HCAICaseReported,
        "Report an MRSA case against the patient's CCG of responsibility",
    ),
    "hcai_case_assigned": (
        "hcai-case-assignments",
        schemas.HCAICaseAssigned,
        "Assign (or reassign after challenge) a case by post-infection review",
    ),
    "hcai_case_withdrawn": (
        "hcai-case-withdrawals",
        schemas.HCAICaseWithdrawn,
        "Withdraw a reported case",
    ),
}
#: Case commands change the case's stream and the records of the CCGs it moves
#: between, so they take no If-Match (one sent is refused by the ledger).
CASE_COMMANDS = ("hcai_case_reported", "hcai_case_assigned", "hcai_case_withdrawn")


def command_from(body: dict[str, Any], kind: str, ccg: str, scheme: str) -> dict[str, Any]:
    """The contract command: the body plus the path's type, CCG and scheme (which it must match)."""
    said = {"type": kind, "ccg": ccg, "scheme": scheme}
    errors = [
        {"field": key, "message": f"{body[key]!r} does not match the path", "allowed": [value]}
        for key, value in said.items()
        if key in body and body[key] != value
    ]
    if errors:
        raise Problem(
            422,
            "validation-error",
            "The body names another "
            + " and ".join(e["field"] for e in errors)
            + " than the path.",
            errors=errors,
        )
    return {**body, **said}


def _make_view(kind: str, schema: type[schemas.CommandBase], summary: str) -> type[MethodView]:
    def post(
        self: MethodView,
        body: dict[str, Any],
        ccg: str,
        scheme: str,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> Any:
        command = command_from(body, kind, ccg, scheme)
        if kind in CASE_COMMANDS:
            # Refused by the ledger (InvalidCommand, 422) when an If-Match was sent.
            expected = 0 if request.headers.get("If-Match") is not None else None
        else:
            expected = expected_version(ccg, scheme)
        receipt = ledger().execute(
            command,
            actor=current_token().actor,
            expected_version=expected,
            idempotency_key=idempotency_key,
        )
        headers = {"Idempotent-Replayed": "true"} if receipt.replayed else {}
        return receipt.to_dict(), 201, headers

    # Named before decorating: the docstring is the OpenAPI summary and description.
    post.__doc__ = f"{summary}.\n\nBody: a `{kind}` command of docs/contract.md."
    post = blp.response(
        201, schemas.Receipt, description="Stored (or, for a retry, stored before)."
    )(post)
    headers = schemas.IdempotencyHeaders if kind in CASE_COMMANDS else schemas.WriteHeaders
    post = blp.arguments(headers, location="headers", as_kwargs=True)(post)
    post = blp.arguments(schema)(post)
    post = allow("write", kind)(post)
    return type(f"{schema.__name__}View", (MethodView,), {"post": post})


for _kind, (_path, _schema, _summary) in COMMANDS.items():
    blp.route(f"/{_path}", endpoint=_kind)(_make_view(_kind, _schema, _summary))
