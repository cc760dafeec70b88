"""The read models this project serves, built fresh for each caller (no module-level state)."""

from __future__ import annotations

from collections.abc import Sequence

from projections.base import Projection
from projections.contacts import contacts_projection
from projections.definitions import definitions_projection
from projections.executions import executions_projection
from projections.stats import execution_stats_projection
from projections.tasks import tasks_projection

# CPU (projector + Postgres, µs) each read model spends per event of the stream while catching
# up on a store of onboardings (bench.store's sealed events, measured one at a time on two
# cores, 2026-12-03). Only the proportions matter: `spread` balances processes with them. A read
# model not listed counts as 1.
CATCHUP_COST = {
    "contacts": 5.5,
    "tasks": 5.4,
    "executions": 13.2,
    "definitions": 1.0,
    "execution_stats": 10.4,
}


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


def spread(names: Sequence[str], processes: int) -> list[list[str]]:
    """`names` split over at most `processes` groups of about equal catch-up cost: the read
    models each projector process of ``bytedash up --split-projector`` runs.

    One process per read model on a machine with fewer cores than read models makes them take
    turns on the cores: on two cores, five processes caught up at 48,211 events/s (median of
    four runs) where two processes, each with about half the cost, did 51,282/s. Greedy, the
    costliest first, each to the cheapest group so far (the longest-processing-time rule; with
    five read models nothing better is worth the code). Each group keeps the order of `names`.
    """
    if processes < 1:
        raise ValueError("processes must be at least 1")
    groups: list[list[str]] = [[] for _ in range(min(processes, len(names)))]
    loads = [0.0] * len(groups)
    order = {name: n for n, name in enumerate(names)}
    for name in sorted(names, key=lambda n: -CATCHUP_COST.get(n, 1.0)):
        cheapest = loads.index(min(loads))
        groups[cheapest].append(name)
        loads[cheapest] += CATCHUP_COST.get(name, 1.0)
    return [sorted(group, key=order.__getitem__) for group in groups if group]
