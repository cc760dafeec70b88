"""A long catch-up in many batches ends with every read-model row right.

Throughput is measured by ``bench/store.py`` (figures in docs/benchmarks.md), not asserted here.
"""

from __future__ import annotations

from typing import Any

import psycopg

from projections import Projector, default_projections
from tests.integration.projections.eventlog import append_synthetic
from tests.integration.projections.support import head, position_of


def test_catching_up_over_20k_events_in_small_batches_builds_every_row(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    total = append_synthetic(database_url, 2_000)

    with Projector(database_url, default_projections(), batch_size=500) as projector:
        applied = projector.run_until_caught_up()

    # Each event once for every read model that reads its type (executions' also feed the stats).
    readers = [
        conn.execute(
            "SELECT count(*) FROM events WHERE event_type = ANY(%s)", (list(p.event_types),)
        ).fetchone()
        for p in default_projections()
    ]
    assert applied == sum(int(row[0]) for row in readers if row is not None) > total
    for name in ("contacts", "tasks", "executions"):
        assert position_of(database_url, name) == head(database_url)
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM tasks),"
        " (SELECT count(*) FROM executions WHERE status = 'completed'),"
        " (SELECT count(*) FROM tasks WHERE status = 'done')"
    ).fetchone()
    assert counts == (2_000, 2_000, 2_000, 2_000)
