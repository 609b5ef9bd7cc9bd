"""Erasing an event's words (UK GDPR): the Board's one endpoint for it.

The words live apart from what the proofs cover (ledger/service/erasure.py),
so an erasure changes no leaf, proof, checkpoint, bundle or decision; history
then shows the field as null with who erased it, when and why.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from api.auth import allow, current_token
from api.context import ledger
from api.jsonio import Blueprint
from api.schemas import erasures as es
from api.views.determinations import document

blp = Blueprint(
    "erasures",
    __name__,
    url_prefix="/erasures",
    description="Erasing a person's words from an event, leaving every proof intact.",
)


@blp.route("", endpoint="erasures")
class ErasuresView(MethodView):
    @allow("erase-text")
    @blp.arguments(es.EraseText)
    @blp.response(201, es.Erasure, description="Erased.")
    def post(self, body: dict[str, Any]) -> Response:
        """Erase the words of one event's field for good (the Board only).

        Only words are erasable (an event's `reason`; an appeal's `grounds`,
        its evidence's `text`, the Board's `determination`, whose events the
        appeal names), and only those of events recorded since words were
        sealed; the facts a decision reads never are. The
        erasure is itself an event: who, when and why. Erasing the same words
        again is 422 `rule-violation`; an event with no stored words to erase
        is 404 `not-found`.
        """
        erased = ledger().erase(body["event_id"], body["field"], body["why"], current_token().actor)
        return document(erased, 201)
