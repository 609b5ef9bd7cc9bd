"""The read models by name: what ``project``, ``rebuild NAME`` and ``check`` act on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, Table

from ledger.domain.errors import NotFound
from ledger.projections import attainment, decisions, summaries
from ledger.projections.projection import ReadModelProjection
from ledger.projections.view import ReadModelView

ExpectedRows = Callable[
    [dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], int], list[dict[str, Any]]],
    dict[str, list[dict[str, Any]]],
]


@dataclass(frozen=True)
class ReadModel:
    name: str
    projection_class: type[ReadModelProjection[Any]]
    view_class: type[ReadModelView]
    define_tables: Callable[[MetaData, str], dict[str, Table]]
    expected_rows: ExpectedRows
    description: str


PROJECTIONS: dict[str, ReadModel] = {
    "decisions": ReadModel(
        "decisions",
        decisions.DecisionsProjection,
        decisions.DecisionsView,
        decisions.define_tables,
        decisions.expected_rows,
        "each CCG's current decision, its components and its decision timeline",
    ),
    "summaries": ReadModel(
        "summaries",
        summaries.SummariesProjection,
        summaries.SummariesView,
        summaries.define_tables,
        summaries.expected_rows,
        "totals by area team, region and England",
    ),
    "attainment": ReadModel(
        "attainment",
        attainment.AttainmentProjection,
        attainment.AttainmentView,
        attainment.define_tables,
        attainment.expected_rows,
        "measure and constitution standard attainment across CCGs",
    ),
}


def read_model(name: str) -> ReadModel:
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise NotFound(
            f"projection: no read model named {name!r}",
            field="projection",
            allowed=list(PROJECTIONS),
        ) from None


def selected(names: tuple[str, ...] | list[str] | None) -> list[ReadModel]:
    """The named read models (all of them when none is named), in registry order."""
    if not names:
        return list(PROJECTIONS.values())
    wanted = {read_model(n).name for n in names}
    return [spec for name, spec in PROJECTIONS.items() if name in wanted]
