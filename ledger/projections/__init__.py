"""Read models for reporting, kept by eventsourcing 9.5 projections (docs/projections.md).

Reporting systems read these, never the event log:

* ``decisions``  -- each CCG's current decision, its components and its
  decision timeline (every change of payable amount or status);
* ``summaries``  -- totals by area team, region and England;
* ``attainment`` -- measure and constitution standard attainment across CCGs.

Projectors (``qp-ledger project``) follow the log and write each batch of
events and its tracking record in one transaction, exactly once even when
two race or one is killed mid-batch (``view.py``). ``rebuild`` fills fresh
tables and switches atomically; ``check`` compares every row with a fresh
replay. ``ReadModels`` is the read side; ``metrics`` exports position and lag.
"""

from __future__ import annotations

from ledger.projections.check import CheckReport, check
from ledger.projections.database import ReadModelDatabase
from ledger.projections.group import ProjectorGroup
from ledger.projections.metrics import CONTENT_TYPE, health, metrics_text, projection_lag
from ledger.projections.read import Page, ReadModelNotReady, ReadModels
from ledger.projections.rebuild import RebuildResult, rebuild
from ledger.projections.registry import PROJECTIONS
from ledger.projections.runner import Projector
from ledger.projections.source import RECORD_TOPICS, open_followed_ledger

__all__ = [
    "CONTENT_TYPE",
    "PROJECTIONS",
    "RECORD_TOPICS",
    "CheckReport",
    "Page",
    "Projector",
    "ProjectorGroup",
    "ReadModelDatabase",
    "ReadModelNotReady",
    "ReadModels",
    "RebuildResult",
    "check",
    "health",
    "metrics_text",
    "open_followed_ledger",
    "projection_lag",
    "rebuild",
]
