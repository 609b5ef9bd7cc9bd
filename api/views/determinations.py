"""Issued decisions and appeals (issue 6): a thin adapter over ``QPLedger.determinations``.

The Board issues a CCG's decision (or every CCG's in a scheme): an event holding
the whole decision document and the log position it was computed at. Anyone
who may read the CCG can fetch an issued decision, recompute it at its own
position (``identical``, or which fields differ) and ask what changed between
two decisions. A CCG appeals its own issued decisions and adds evidence; the
Board dismisses an appeal or upholds it with a remedy (ledger commands, stored
with the determination in one transaction), then issues the revised decision
naming the appeal. Reporters see appeal counts only.

Every rule (the appeal window, one open appeal per issue, one determination,
one revision per upheld appeal, a remedy that concerns this CCG) is the
ledger's; its errors become problem documents in ``api/problems.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import Response, current_app, url_for
from flask.views import MethodView

from api.auth import allow, current_token, known_scheme
from api.context import ledger
from api.jsonio import Blueprint
from api.problems import Problem
from api.schemas import appeals as aps
from api.schemas import determinations as ds
from api.schemas.bundles import EvidenceBundle
from api.schemas.common import IdempotencyHeaders
from api.schemas.parameters import APPEAL, ISSUE, LOCATION, SCHEME
from api.views.integrity import signer
from ledger.domain.errors import DecisionUnchanged, NothingRecorded
from ledger.integrity.signed_head import SigningRefused
from ledger.service.bundles import export_bundle

blp = Blueprint(
    "determinations",
    __name__,
    url_prefix="/ccgs/<ccg>/schemes/<scheme>",
    description="Issued decisions, their reproduction and diffs, and appeals against them.",
)
scheme_blp = Blueprint(
    "scheme-determinations",
    __name__,
    url_prefix="/schemes/<scheme>",
    description="Issuing every CCG's decision in a scheme; appeal counts.",
)


def document(
    body: Any, status: int = 200, location: str | None = None, *, replayed: bool = False
) -> Response:
    """The ledger's document as JSON, unchanged (numbers exact; no re-serialising)."""
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype="application/json"
    )
    if location is not None:
        response.headers["Location"] = location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def seen_before(idempotency_key: str | None) -> bool:
    """Whether this caller already wrote under the key (so the answer is a replay).

    Only the header depends on it: the ledger itself decides, in the write's
    own transaction, whether to write or to return the earlier result.
    """
    if idempotency_key is None:
        return False
    return ledger().store.idempotent_write(current_token().actor, idempotency_key) is not None


def writes(
    bp: Blueprint,
    action: str,
    body: type[ma.Schema],
    answer: type[ma.Schema],
    description: str,
    headers: dict[str, Any] | None = None,
) -> Callable[[Any], Any]:
    """The decorators of a write: who may, its JSON body, the optional
    Idempotency-Key, and the 201 answer."""

    def decorate(post: Any) -> Any:
        post = bp.response(201, answer, headers=headers, description=description)(post)
        post = bp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)(post)
        post = bp.arguments(body)(post)
        return allow(action)(post)

    return decorate


def appeal_write(
    write: Callable[..., dict[str, Any]],
    ccg: str,
    scheme: str,
    appeal_id: str,
    idempotency_key: str | None = None,
    **fields: Any,
) -> Response:
    """Evidence or a determination on an appeal, as the token's actor: the appeal as it
    now stands, 201."""
    replayed = seen_before(idempotency_key)
    appeal = write(
        ccg,
        scheme,
        appeal_id,
        actor=current_token().actor,
        idempotency_key=idempotency_key,
        **fields,
    )
    return document(appeal, 201, replayed=replayed)


def issue_location(ccg: str, scheme: str, issue_id: str) -> str:
    return url_for("determinations.issued-decision", ccg=ccg, scheme=scheme, issue_id=issue_id)


# -- issuing ------------------------------------------------------------------


@blp.route("/issued-decisions", endpoint="issued-decisions")
class IssuedDecisionsView(MethodView):
    @writes(blp, "issue-decisions", ds.IssueDecision, ds.IssuedDecision, "Issued.", LOCATION)
    def post(
        self, body: dict[str, Any], ccg: str, scheme: str, idempotency_key: str | None = None
    ) -> Response:
        """Issue the CCG's decision as it stands now.

        Stored as it is, never changed: the document, its log position, engine
        version and inputs digest. A later issue names the one it replaces; with
        `appeal_id` it is the revised decision that follows that upheld appeal.
        Refused when the record has no events (404 `nothing-recorded`) or the
        decision is unchanged since the latest issue (422 `decision-unchanged`),
        unless the body says `"force": true`.
        """
        replayed = seen_before(idempotency_key)
        try:
            issued = ledger().determinations.issue(
                ccg,
                scheme,
                actor=current_token().actor,
                reason=body.get("reason"),
                appeal_id=body.get("appeal_id"),
                idempotency_key=idempotency_key,
                force=body["force"],
            )
        except (NothingRecorded, DecisionUnchanged) as e:
            hint = '; send "force": true to issue it anyway'
            raise type(e)(e.message + hint, field="force", allowed=[True]) from None
        location = issue_location(ccg, scheme, issued["issue_id"])
        return document(issued, 201, location, replayed=replayed)


@scheme_blp.route("/issued-decisions", endpoint="issued-decisions", parameters=[SCHEME])
class IssueAllView(MethodView):
    @writes(scheme_blp, "issue-decisions", ds.IssueAllDecisions, ds.IssuedAll,
            "One issue per CCG, in ODS code order.")  # fmt: skip
    def post(
        self, body: dict[str, Any], scheme: str, idempotency_key: str | None = None
    ) -> Response:
        """Issue the current decision of every CCG in the scheme (one Board command).

        Each CCG's issue is stored on its own; this takes a few seconds for all
        211 CCGs, so send it once and read the result. With an Idempotency-Key
        (at most 196 characters) a retry after a failure part-way returns the
        issues already made and makes only the missing ones. A CCG with no
        events, or unchanged since its latest issue, is skipped and listed under
        `skipped` (with `"force": true`, issued anyway).
        """
        known_scheme(scheme)
        issued = ledger().determinations.issue_all(
            scheme,
            actor=current_token().actor,
            reason=body.get("reason"),
            idempotency_key=idempotency_key,
            force=body["force"],
        )
        return document(issued, 201)


# -- reading ------------------------------------------------------------------


@blp.route("/determinations", endpoint="chain")
class ChainView(MethodView):
    @allow("read-determinations")
    @blp.response(200, ds.Chain)
    def get(self, ccg: str, scheme: str) -> Response:
        """Every decision issued to the CCG and every appeal against them, oldest first."""
        return document(ledger().determinations.chain(ccg, scheme))


@blp.route("/issued-decisions/<issue_id>", endpoint="issued-decision", parameters=[ISSUE])
class IssuedDecisionView(MethodView):
    @allow("read-determinations")
    @blp.response(200, ds.IssuedDecision)
    def get(self, ccg: str, scheme: str, issue_id: str) -> Response:
        """One issued decision in full: the document exactly as it was issued."""
        return document(ledger().determinations.issued_decision(ccg, scheme, issue_id))


@blp.route(
    "/issued-decisions/<issue_id>/reproduction",
    endpoint="reproduction",
    parameters=[ISSUE],
)
class ReproductionView(MethodView):
    @allow("read-determinations")
    @blp.arguments(ds.ReproduceQuery, location="query", as_kwargs=True)
    @blp.response(200, ds.Reproduction)
    def get(
        self, ccg: str, scheme: str, issue_id: str, engine_version: str | None = None
    ) -> Response:
        """Recompute an issued decision at its own log position and compare.

        `identical`, or every field that differs (path, as issued, as
        recomputed). `engine_version` recomputes with another engine, to see
        what an engine change would alter.
        """
        result = ledger().determinations.reproduce(ccg, scheme, issue_id, engine_version)
        return document(result)


@blp.route("/issued-decisions/<issue_id>/bundle", endpoint="bundle", parameters=[ISSUE])
class BundleView(MethodView):
    @allow("read-determinations")
    @blp.response(200, EvidenceBundle)
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self, ccg: str, scheme: str, issue_id: str) -> Response:
        """The issued decision's evidence bundle: check it offline with `qp-ledger bundle verify`.

        The decision, the scheme, the CCG's record up to the decision's position
        with an inclusion proof per event, the issue event, and a checkpoint
        signed now (docs/bundle.md). 503 `signing-refused` when the log no
        longer extends the last signed checkpoint.
        """
        ledger().determinations.issued_decision(ccg, scheme, issue_id)  # 404 before any key
        try:
            bundle = export_bundle(ledger(), signer(), ccg, scheme, issue_id)
        except SigningRefused as e:
            raise Problem(503, "signing-refused", e.message) from None
        return document(bundle)


def _point(query: dict[str, Any], end: str) -> dict[str, Any]:
    return {
        k: query[f"{end}_{k}"] for k in ("issue_id", "position", "as_of") if f"{end}_{k}" in query
    }


@blp.route("/decision-diff", endpoint="decision-diff")
class DecisionDiffView(MethodView):
    @allow("read-determinations")
    @blp.arguments(ds.DiffQuery, location="query")
    @blp.response(200, ds.DecisionDiff)
    def get(self, query: dict[str, Any], ccg: str, scheme: str) -> Response:
        """What changed between two decisions, and the events that changed it.

        Each end is an issued decision (`*_issue_id`), a log position
        (`*_position`) or a recorded time (`*_as_of`); without a `to_*` the
        decision as it stands now.
        """
        result = ledger().determinations.diff(
            ccg, scheme, _point(query, "from"), _point(query, "to")
        )
        return document(result)


# -- appeals ------------------------------------------------------------------


@blp.route("/appeals", endpoint="appeals")
class AppealsView(MethodView):
    @allow("read-determinations")
    @blp.response(200, aps.AppealList)
    def get(self, ccg: str, scheme: str) -> Response:
        """The CCG's appeals, oldest first, with evidence, determination and remedy."""
        appeals = ledger().determinations.appeals(ccg, scheme)
        return document({"ccg": ccg, "scheme": scheme, "appeals": appeals})

    @writes(blp, "lodge-appeal", aps.LodgeAppeal, aps.Appeal, "Lodged.", LOCATION)
    def post(
        self, body: dict[str, Any], ccg: str, scheme: str, idempotency_key: str | None = None
    ) -> Response:
        """Appeal one of the CCG's issued decisions, within the scheme's appeal window.

        The window (days from issue, counted in recorded time) is the scheme's
        `appeal_window_days`; one appeal per issued decision may be open at a time.
        """
        replayed = seen_before(idempotency_key)
        appeal = ledger().determinations.lodge_appeal(
            ccg,
            scheme,
            body["issue_id"],
            grounds=body["grounds"],
            disputes=body.get("disputes"),
            actor=current_token().actor,
            idempotency_key=idempotency_key,
        )
        location = url_for(
            "determinations.appeal", ccg=ccg, scheme=scheme, appeal_id=appeal["appeal_id"]
        )
        return document(appeal, 201, location, replayed=replayed)


@blp.route("/appeals/<appeal_id>", endpoint="appeal", parameters=[APPEAL])
class AppealView(MethodView):
    @allow("read-determinations")
    @blp.response(200, aps.Appeal)
    def get(self, ccg: str, scheme: str, appeal_id: str) -> Response:
        """One appeal: grounds, evidence, determination and remedy."""
        return document(ledger().determinations.appeal(ccg, scheme, appeal_id))


@blp.route("/appeals/<appeal_id>/evidence", endpoint="evidence", parameters=[APPEAL])
class EvidenceView(MethodView):
    @writes(blp, "add-evidence", aps.AddEvidence, aps.Appeal, "Added; the appeal as it now stands.")
    def post(self, body: dict[str, Any], **where: Any) -> Response:
        """Add evidence to an open appeal: text, and files by digest.

        Each attachment is recorded by SHA-256, size and media type; the bytes
        themselves are kept elsewhere, and the digest proves which file was meant.
        """
        return appeal_write(
            ledger().determinations.add_evidence,
            text=body["text"],
            attachments=body.get("attachments"),
            **where,
        )


@blp.route("/appeals/<appeal_id>/determination", endpoint="determination", parameters=[APPEAL])
class DeterminationView(MethodView):
    @writes(blp, "determine-appeal", aps.DetermineAppeal, aps.Appeal,
            "Determined; the appeal as it now stands.")  # fmt: skip
    def post(self, body: dict[str, Any], ccg: str, scheme: str, **where: Any) -> Response:
        """Determine an open appeal: dismissed, or upheld with a remedy.

        The remedy is docs/contract.md commands for this CCG (`ccg` and `scheme`
        default to the path's), stored in one transaction with the
        determination and recorded with the Board's actor. Then issue the
        revised decision with `appeal_id` (POST …/issued-decisions).
        """
        said = {"ccg": ccg, "scheme": scheme}
        remedy = [{**said, **command} for command in body.get("remedy") or []]
        return appeal_write(
            ledger().determinations.determine_appeal,
            ccg,
            scheme,
            outcome=body["outcome"],
            determination=body["determination"],
            remedy=remedy,
            **where,
        )


@scheme_blp.route("/appeal-counts", endpoint="appeal-counts", parameters=[SCHEME])
class AppealCountsView(MethodView):
    @allow("read-appeal-counts")
    @scheme_blp.response(200, aps.AppealCounts)
    def get(self, scheme: str) -> Response:
        """How many appeals there are in the scheme, by status (no CCGs, no grounds)."""
        known_scheme(scheme)
        by_status = ledger().determinations.appeal_counts(scheme)
        return document(
            {"scheme": scheme, "total": sum(by_status.values()), "by_status": by_status}
        )
