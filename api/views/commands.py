"""Write endpoints: one resource per command of docs/contract.md, named in the users' words.

Each takes the contract's command body unchanged (``type``, ``ccg`` and
``scheme`` may be left out, as the path says them) and answers ``201`` with the
receipt: event id, the CCG record's new version, the log position and the
recorded time. ``Idempotency-Key`` makes a retry safe; ``If-Match`` (an ETag
from a decision or history read) makes the write conditional on the record not
having moved on.

Every resource below is written out (path, endpoint, who may write, body
schema); what they share is ``command`` (their decorators) and ``record``
(the body handling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask.views import MethodView

from api.auth import allow, current_token
from api.context import ledger
from api.etags import expected_version
from api.jsonio import Blueprint
from api.problems import Problem
from api.schemas import commands as cs
from api.schemas.common import IdempotencyHeaders
from ledger.domain.cases import CASE_COMMANDS

blp = Blueprint(
    "commands",
    __name__,
    url_prefix="/ccgs/<ccg>/schemes/<scheme>",
    description="Record facts about a CCG's premium: one resource per command type.",
)


def command(kind: str, schema: type[cs.CommandBase]) -> Callable[[Any], Any]:
    """The decorators of a command's POST: who may write ``kind``, its body, its
    headers and the receipt. A case command changes the case's stream and the
    records of the CCGs it moves between, so it takes no If-Match (one sent is
    refused by the ledger)."""
    headers = IdempotencyHeaders if kind in CASE_COMMANDS else cs.WriteHeaders

    def decorate(post: Any) -> Any:
        post = blp.response(
            201, cs.Receipt, description="Stored (or, for a retry, stored before)."
        )(post)
        post = blp.arguments(headers, location="headers", as_kwargs=True)(post)
        post = blp.arguments(schema)(post)
        return allow("write", kind)(post)

    return decorate


def record(
    kind: str,
    body: dict[str, Any],
    ccg: str,
    scheme: str,
    idempotency_key: str | None = None,
    if_match: str | None = None,
) -> Any:
    """Store the body as a ``kind`` command of the path's record; the receipt, 201."""
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


# The docstrings are the OpenAPI summary and description (``allow`` adds who may call).


@blp.route("/population", endpoint="population_recorded")
class PopulationRecordedView(MethodView):
    @command("population_recorded", cs.PopulationRecorded)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Record the CCG's population.

        Body: a `population_recorded` command of docs/contract.md."""
        return record("population_recorded", body, **path_and_headers)


@blp.route("/local-measures", endpoint="local_measures_selected")
class LocalMeasuresSelectedView(MethodView):
    @command("local_measures_selected", cs.LocalMeasuresSelected)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Select the CCG's three local measures.

        Body: a `local_measures_selected` command of docs/contract.md."""
        return record("local_measures_selected", body, **path_and_headers)


@blp.route("/thresholds", endpoint="threshold_agreed")
class ThresholdAgreedView(MethodView):
    @command("threshold_agreed", cs.ThresholdAgreed)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Agree an improvement threshold with the CCG.

        Body: a `threshold_agreed` command of docs/contract.md."""
        return record("threshold_agreed", body, **path_and_headers)


@blp.route("/measure-values", endpoint="measure_submitted")
class MeasureSubmittedView(MethodView):
    @command("measure_submitted", cs.MeasureSubmitted)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Submit a measure value for a period.

        Body: a `measure_submitted` command of docs/contract.md."""
        return record("measure_submitted", body, **path_and_headers)


@blp.route("/constitution-results", endpoint="constitution_standard_submitted")
class ConstitutionStandardSubmittedView(MethodView):
    @command("constitution_standard_submitted", cs.ConstitutionStandardSubmitted)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Record an NHS Constitution standard result.

        Body: a `constitution_standard_submitted` command of docs/contract.md."""
        return record("constitution_standard_submitted", body, **path_and_headers)


@blp.route("/quality-failures", endpoint="quality_failure_flagged")
class QualityFailureFlaggedView(MethodView):
    @command("quality_failure_flagged", cs.QualityFailureFlagged)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Flag a serious quality failure.

        Body: a `quality_failure_flagged` command of docs/contract.md."""
        return record("quality_failure_flagged", body, **path_and_headers)


@blp.route("/quality-failure-rescissions", endpoint="quality_failure_rescinded")
class QualityFailureRescindedView(MethodView):
    @command("quality_failure_rescinded", cs.QualityFailureRescinded)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Rescind an active quality failure flag.

        Body: a `quality_failure_rescinded` command of docs/contract.md."""
        return record("quality_failure_rescinded", body, **path_and_headers)


@blp.route("/financial-position", endpoint="financial_position_declared")
class FinancialPositionDeclaredView(MethodView):
    @command("financial_position_declared", cs.FinancialPositionDeclared)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Declare the year-end financial position.

        Body: a `financial_position_declared` command of docs/contract.md."""
        return record("financial_position_declared", body, **path_and_headers)


# HCAI cases (issue 14): the path's CCG is the one the case is reported against.


@blp.route("/hcai-cases", endpoint="hcai_case_reported")
class HCAICaseReportedView(MethodView):
    @command("hcai_case_reported", cs.HCAICaseReported)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Report an MRSA case against the patient's CCG of responsibility.

        Body: a `hcai_case_reported` command of docs/contract.md."""
        return record("hcai_case_reported", body, **path_and_headers)


@blp.route("/hcai-case-assignments", endpoint="hcai_case_assigned")
class HCAICaseAssignedView(MethodView):
    @command("hcai_case_assigned", cs.HCAICaseAssigned)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Assign (or reassign after challenge) a case by post-infection review.

        Body: a `hcai_case_assigned` command of docs/contract.md."""
        return record("hcai_case_assigned", body, **path_and_headers)


@blp.route("/hcai-case-withdrawals", endpoint="hcai_case_withdrawn")
class HCAICaseWithdrawnView(MethodView):
    @command("hcai_case_withdrawn", cs.HCAICaseWithdrawn)
    def post(self, body: dict[str, Any], **path_and_headers: Any) -> Any:
        """Withdraw a reported case.

        Body: a `hcai_case_withdrawn` command of docs/contract.md."""
        return record("hcai_case_withdrawn", body, **path_and_headers)
