"""Projection position and lag, for Prometheus (text format) and ``/health``.

Lag is measured two ways: in log positions (head - position) and in seconds
(now - the recorded time of the oldest log entry the read model has not yet
applied; 0 when it is caught up). The numbers are read from the database on
each scrape, so any process -- the API, a sidecar -- can export them for
projectors running elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import inspect, select

from ledger.projections.read import ReadModels

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: A read model further behind than this (seconds) makes ``health()`` say "lagging".
DEFAULT_MAX_LAG_SECONDS = 30.0


def projection_lag(read_models: ReadModels) -> dict[str, Any]:
    """Head of the log, and per read model its position, lag and events applied."""
    head = read_models.head()
    status = read_models.status()
    now_us = time.time_ns() // 1000
    index = read_models.index
    has_index = inspect(read_models.db.engine).has_table(index.name)
    out: dict[str, Any] = {"head": head, "projections": {}}
    with read_models.db.read() as conn:
        for name, s in status.items():
            behind_us = None
            if has_index and s["position"] < head:
                behind_us = conn.execute(
                    select(index.c.recorded_us)
                    .where(index.c.position > s["position"])
                    .order_by(index.c.position)
                    .limit(1)
                ).scalar()
            lag_seconds = 0.0 if behind_us is None else max(0.0, (now_us - behind_us) / 1e6)
            out["projections"][name] = {
                **s,
                "lag_positions": max(0, head - s["position"]),
                "lag_seconds": round(lag_seconds, 6),
            }
    return out


class ProjectionCollector(Collector):
    """Reads positions from the database at each scrape."""

    def __init__(self, read_models: ReadModels) -> None:
        self.read_models = read_models

    def collect(self) -> Iterator[Metric]:
        lag = projection_lag(self.read_models)
        head = GaugeMetricFamily("qp_ledger_log_head_position", "Last position in the event log.")
        head.add_metric([], lag["head"])
        yield head
        families = {
            "position": GaugeMetricFamily(
                "qp_ledger_projection_position",
                "Log position the read model has applied up to.",
                labels=["projection"],
            ),
            "lag_positions": GaugeMetricFamily(
                "qp_ledger_projection_lag_positions",
                "Log positions not yet applied by the read model.",
                labels=["projection"],
            ),
            "lag_seconds": GaugeMetricFamily(
                "qp_ledger_projection_lag_seconds",
                "Age of the oldest log entry the read model has not applied (0 when caught up).",
                labels=["projection"],
            ),
            "generation": GaugeMetricFamily(
                "qp_ledger_projection_generation",
                "Active table generation of the read model (rises on each rebuild).",
                labels=["projection"],
            ),
        }
        applied = CounterMetricFamily(
            "qp_ledger_projection_events_applied",
            "Events applied to the active generation of the read model.",
            labels=["projection"],
        )
        for name, p in lag["projections"].items():
            for key, family in families.items():
                value = p[key]
                if value is not None:
                    family.add_metric([name], value)
            applied.add_metric([name], p["events_applied"])
        yield from families.values()
        yield applied


def metrics_text(read_models: ReadModels) -> str:
    """The projection metrics in Prometheus text exposition format (``CONTENT_TYPE``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProjectionCollector(read_models))
    return generate_latest(registry).decode("utf-8")


def health(
    read_models: ReadModels, max_lag_seconds: float = DEFAULT_MAX_LAG_SECONDS
) -> dict[str, Any]:
    """``{"status": "ok" | "lagging" | "not-built", "head": …, "projections": {…}}``.

    ``not-built``: some read model has never been projected; ``lagging``: some
    read model is more than ``max_lag_seconds`` behind the log.
    """
    lag = projection_lag(read_models)
    projections = lag["projections"]
    if not all(p["built"] for p in projections.values()):
        state = "not-built"
    elif any(p["lag_seconds"] > max_lag_seconds for p in projections.values()):
        state = "lagging"
    else:
        state = "ok"
    return {"status": state, "head": lag["head"], "projections": projections}
