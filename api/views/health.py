"""Liveness and readiness, for load balancers and orchestrators (no token needed)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response
from flask.views import MethodView

from api import schemas
from api.auth import PUBLIC, allow, tokens
from api.context import ledger
from api.jsonio import Blueprint
from api.problems import Problem
from api.reports import read_models
from ledger import projections

blp = Blueprint("health", __name__, description="Is the service up, and can it serve?")
log = logging.getLogger(__name__)


@blp.route("/health", endpoint="health")
class HealthView(MethodView):
    @allow(PUBLIC)
    @blp.response(200, schemas.Health)
    def get(self) -> dict[str, Any]:
        """The process is up; how far behind the log each read model is."""
        return {"status": "ok", "projections": projection_health()}


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
    @blp.response(200, schemas.Ready)
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
