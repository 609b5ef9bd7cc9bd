"""Liveness and readiness, for load balancers and orchestrators (no token needed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Response, current_app
from flask.views import MethodView

from api.auth import PUBLIC, allow, tokens
from api.context import ledger
from api.jsonio import Blueprint
from api.problems import Problem
from api.schemas.health import Health, Ready
from api.views.reports import read_models
from ledger import projections
from ledger.integrity.documents import LogDocuments
from ledger.integrity.signing import SIGNING_KEY_FILE, default_key_file

blp = Blueprint("health", __name__, description="Is the service up, and can it serve?")
log = logging.getLogger(__name__)


@blp.route("/health", endpoint="health")
class HealthView(MethodView):
    @allow(PUBLIC)
    @blp.response(200, Health)
    def get(self) -> dict[str, Any]:
        """The process is up; how far behind the log each read model is; whether the signer signs.

        `signer.status` is `refusing` when the log no longer extends the last
        checkpoint signed with the key (a rewrite): checkpoints and bundles are
        refused until someone looks.
        """
        return {"status": "ok", "projections": projection_health(), "signer": signer_health()}


def signer_health() -> dict[str, Any]:
    try:
        configured = current_app.config.get(SIGNING_KEY_FILE)
        path = Path(configured) if configured else default_key_file(ledger().database_url)
        found: dict[str, Any] = LogDocuments(ledger().store).signer_health(path)
    except Exception as e:
        log.warning("signer status unavailable: %s", e)
        return {"status": "unavailable", "detail": "the log or the key file cannot be read"}
    if found["status"] == "refusing" and found["detail"] not in _logged:
        _logged.add(found["detail"])  # loud once per cause, not once per probe
        log.critical("checkpoint signer: %s", found["detail"])
    return found


_logged: set[str] = set()


def projection_health() -> dict[str, Any]:
    # The process is healthy even when the read side is not built or the
    # database is away: report that, never fail liveness because of it.
    try:
        return projections.health(read_models())
    except Exception as e:
        log.warning("projection status unavailable: %s", e)
        return {"status": "unavailable"}


@blp.route("/metrics", endpoint="metrics")
class MetricsView(MethodView):
    @allow(PUBLIC)
    @blp.response(200, {"type": "string"}, content_type=projections.CONTENT_TYPE)
    def get(self) -> Response:
        """Projection positions and lag, in Prometheus text format."""
        return Response(
            projections.metrics_text(read_models()), content_type=projections.CONTENT_TYPE
        )


@blp.route("/ready", endpoint="ready")
class ReadyView(MethodView):
    @allow(PUBLIC)
    @blp.response(200, Ready)
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def get(self) -> dict[str, Any]:
        """The database answers: the log and the token store can be read."""
        try:
            position = ledger().max_position()
            tokens().authenticate("qpl_readiness-probe")
        except Exception as e:
            log.warning("not ready: %s", e)
            raise Problem(503, "not-ready", "The database cannot be reached.") from None
        return {"status": "ready", "position": position}
