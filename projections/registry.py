"""The read models this project serves, built fresh for each caller (no module-level state)."""

from __future__ import annotations

from projections.base import Projection
from projections.contacts import contacts_projection
from projections.definitions import definitions_projection
from projections.executions import executions_projection
from projections.stats import execution_stats_projection
from projections.tasks import tasks_projection


def default_projections() -> list[Projection]:
    """Every projection behind the read API, in a fixed order."""
    return [
        contacts_projection(),
        tasks_projection(),
        executions_projection(),
        definitions_projection(),
        execution_stats_projection(),
    ]


def projection_named(name: str) -> Projection:
    """One of `default_projections` by name (``bytedash projector --only NAME``)."""
    for projection in default_projections():
        if projection.name == name:
            return projection
    known = ", ".join(p.name for p in default_projections())
    raise KeyError(f"no projection named {name!r}; known: {known}")
