"""``GET /workflows/{workflow_id}/events`` and ``/summary``: event ↔ workflow traceability.

Every event an activity appends names its Temporal workflow and run (filled in from the
activity's context), so "what did this workflow do?" is a lookup by ``workflow_id`` (an index),
and the summary answers the questions an auditor asks first — when it ran, how long, what it
touched, how it ended — without replaying anything.

A workflow's outcome depends on its kind. An execution workflow (one that recorded events of a
``workflow_execution``) ends with that execution's terminal event, if it has ended; its status
is the execution state its latest lifecycle event put it in. A command workflow (create a
contact, change a task) has done its work once its events exist: "completed".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.audit.items import ITEM_COLUMNS, event_item, iso

EXECUTION = "workflow_execution"
# The execution state each lifecycle event leaves an execution in (domain/execution.py).
EXECUTION_STATES = {
    "WorkflowExecution.Created": "pending",
    "WorkflowExecution.Started": "running",
    "WorkflowExecution.StepStarted": "running",
    "WorkflowExecution.StepCompleted": "running",
    "WorkflowExecution.StepFailed": "running",
    "WorkflowExecution.Waiting": "waiting",
    "WorkflowExecution.Completed": "completed",
    "WorkflowExecution.Failed": "failed",
    "WorkflowExecution.Cancelled": "cancelled",
    "WorkflowExecution.TimedOut": "timed_out",
    "WorkflowExecution.StepParked": "needs_attention",
    "WorkflowExecution.ParkedStepResolved": "running",
    "WorkflowExecution.Retried": "running",
    "WorkflowExecution.Migrated": "running",
    "WorkflowExecution.CompensationStarted": "compensating",
    "WorkflowExecution.CompensationStepStarted": "compensating",
    "WorkflowExecution.Compensated": "compensated",
    "WorkflowExecution.CompensationFailed": "compensation_failed",
}
TERMINAL_EVENTS = (
    "WorkflowExecution.Completed",
    "WorkflowExecution.Failed",
    "WorkflowExecution.Cancelled",
    "WorkflowExecution.TimedOut",
    "WorkflowExecution.Compensated",
    "WorkflowExecution.CompensationFailed",
)

_SCOPE = "org_id = %s AND workflow_id = %s"
_EVENTS = f"SELECT {ITEM_COLUMNS} FROM events WHERE {_SCOPE} ORDER BY position"
_FIRST = f"SELECT {ITEM_COLUMNS} FROM events WHERE {_SCOPE} ORDER BY position LIMIT 1"
_LAST = f"SELECT {ITEM_COLUMNS} FROM events WHERE {_SCOPE} ORDER BY position DESC LIMIT 1"
_COUNTS = (
    f"SELECT event_type, count(*) AS n, min(position) AS first FROM events WHERE {_SCOPE}"
    " GROUP BY event_type ORDER BY first"
)
_AGGREGATES = (
    "SELECT aggregate_type, originator_id, count(*) AS event_count,"
    " min(position) AS first_position, max(position) AS last_position"
    f" FROM events WHERE {_SCOPE} GROUP BY aggregate_type, originator_id ORDER BY first_position"
)
_RUNS = (
    "SELECT workflow_run_id, count(*) AS event_count, min(occurred_at) AS first_occurred_at,"
    " max(occurred_at) AS last_occurred_at, min(position) AS first_position"
    f" FROM events WHERE {_SCOPE} GROUP BY workflow_run_id ORDER BY first_position"
)
_ACTORS = f"SELECT DISTINCT actor FROM events WHERE {_SCOPE} AND actor IS NOT NULL ORDER BY 1"
_LIFECYCLE = (
    "SELECT originator_id, event_type, position, occurred_at FROM events"
    f" WHERE {_SCOPE} AND aggregate_type = %s AND event_type = ANY(%s)"
    " ORDER BY position DESC LIMIT 1"
)


def workflow_events(conn: Connection[Any], org_id: str, workflow_id: str) -> list[dict[str, Any]]:
    """Every event `workflow_id` caused in `org_id`, in position order (empty if none)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_EVENTS.encode(), (org_id, workflow_id))
        return [event_item(row) for row in cur.fetchall()]


def workflow_summary(conn: Connection[Any], org_id: str, workflow_id: str) -> dict[str, Any] | None:
    """What `workflow_id` did in `org_id`, at a glance; None when it caused no event there.

    Aggregated in SQL (a handful of indexed queries), so a long-running workflow with
    thousands of events is summarised without loading them.
    """
    scope = (org_id, workflow_id)
    with conn.cursor(row_factory=dict_row) as cur:
        first = cur.execute(_FIRST.encode(), scope).fetchone()
        if first is None:
            return None
        last = cur.execute(_LAST.encode(), scope).fetchone()
        assert last is not None  # the first event exists, so a last one does
        counts = cur.execute(_COUNTS.encode(), scope).fetchall()
        aggregates = cur.execute(_AGGREGATES.encode(), scope).fetchall()
        runs = cur.execute(_RUNS.encode(), scope).fetchall()
        actors = [row["actor"] for row in cur.execute(_ACTORS.encode(), scope).fetchall()]
        lifecycle = cur.execute(
            _LIFECYCLE.encode(), (*scope, EXECUTION, list(EXECUTION_STATES))
        ).fetchone()
    touched_execution = any(row["aggregate_type"] == EXECUTION for row in aggregates)
    started: datetime = first["occurred_at"]
    ended: datetime = last["occurred_at"]
    return {
        "workflow_id": workflow_id,
        "org_id": org_id,
        "workflow_type": last["workflow_type"] or first["workflow_type"],
        "run_ids": [row["workflow_run_id"] for row in runs if row["workflow_run_id"]],
        "runs": [
            {
                "run_id": row["workflow_run_id"],
                "event_count": row["event_count"],
                "first_occurred_at": iso(row["first_occurred_at"]),
                "last_occurred_at": iso(row["last_occurred_at"]),
            }
            for row in runs
        ],
        "event_count": sum(row["n"] for row in counts),
        "event_counts": {row["event_type"]: row["n"] for row in counts},
        "first_event": event_item(first),
        "last_event": event_item(last),
        "first_occurred_at": iso(started),
        "last_occurred_at": iso(ended),
        "duration_seconds": (ended - started).total_seconds(),
        "aggregates": [
            {
                "aggregate_type": row["aggregate_type"],
                "aggregate_id": str(row["originator_id"]),
                "event_count": row["event_count"],
                "first_position": row["first_position"],
                "last_position": row["last_position"],
            }
            for row in aggregates
        ],
        "actors": actors,
        "outcome": _outcome(touched_execution, lifecycle),
    }


def _outcome(touched_execution: bool, lifecycle: dict[str, Any] | None) -> dict[str, Any]:
    if not touched_execution:
        return {
            "kind": "command",
            "execution_id": None,
            "status": "completed",
            "terminal": True,
            "event": None,
        }
    if lifecycle is None:  # only side-effect records (emails, reminders) under this workflow
        return {
            "kind": "execution",
            "execution_id": None,
            "status": None,
            "terminal": False,
            "event": None,
        }
    return {
        "kind": "execution",
        "execution_id": str(lifecycle["originator_id"]),
        "status": EXECUTION_STATES[lifecycle["event_type"]],
        "terminal": lifecycle["event_type"] in TERMINAL_EVENTS,
        "event": {
            "event_type": lifecycle["event_type"],
            "position": lifecycle["position"],
            "occurred_at": iso(lifecycle["occurred_at"]),
        },
    }
