"""A contact's lineage: everything that happened to or because of one person, in one order.

An auditor asking "what did we do with this applicant?" needs more than the contact's own
events: the executions started for them, the review tasks those executions created (and tasks
filed against the contact directly), and the workflows that caused all of it. The links are
recorded in the creation events themselves (``WorkflowExecution.Created`` and ``Task.Assigned``
carry ``contact_id``; ``Task.Assigned`` carries ``execution_id``), and partial expression
indexes from migration 0003 serve exactly these lookups.

The answer lists each event once, in position order, and groups refer to them by position, so a
long lineage is not sent twice.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from projections.audit.items import ITEM_COLUMNS, as_uuid, event_item

# Must match the predicates of events_contact_ref_idx and events_execution_ref_idx (0003).
LINKED_TO_CONTACT = (
    "SELECT originator_id, event_type, data FROM events"
    " WHERE org_id = %s AND data->>'contact_id' = %s"
    " AND event_type IN ('WorkflowExecution.Created', 'Task.Assigned')"
    " ORDER BY position"
)
TASKS_OF_EXECUTIONS = (
    "SELECT originator_id, event_type, data FROM events"
    " WHERE org_id = %s AND data->>'execution_id' = ANY(%s) AND event_type = 'Task.Assigned'"
    " ORDER BY position"
)
_CONTACT_EXISTS = (
    "SELECT 1 FROM events"
    " WHERE originator_id = %s AND org_id = %s AND aggregate_type = 'contact' LIMIT 1"
)
_EVENTS_OF = (
    f"SELECT {ITEM_COLUMNS} FROM events"
    " WHERE org_id = %s AND originator_id = ANY(%s) ORDER BY position"
)


def contact_lineage(
    conn: Connection[Any], org_id: str, contact_id: object
) -> dict[str, Any] | None:
    """The contact's events, its executions and tasks, and every event of them, by position.

    None when `contact_id` is no contact of `org_id`. Shape::

        {"contact_id", "org_id",
         "contact": {"aggregate_id", "positions"},
         "executions": [{"execution_id", "workflow_id", "definition_id", "definition_version",
                         "task_ids", "positions"}],
         "tasks": [{"task_id", "title", "execution_id", "step_id", "linked_by", "positions"}],
         "workflows": [{"workflow_id", "workflow_type", "run_ids", "positions"}],
         "event_count", "events": [event items, in position order]}

    ``linked_by`` says why a task is there: ``contact`` (it names the contact) or ``execution``
    (one of the contact's executions created it).
    """
    key = as_uuid(contact_id)
    if key is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        if cur.execute(_CONTACT_EXISTS.encode(), (key, org_id)).fetchone() is None:
            return None
        linked = cur.execute(LINKED_TO_CONTACT.encode(), (org_id, str(key))).fetchall()
        executions = [row for row in linked if row["event_type"] == "WorkflowExecution.Created"]
        execution_ids = [str(row["originator_id"]) for row in executions]
        by_execution = cur.execute(TASKS_OF_EXECUTIONS.encode(), (org_id, execution_ids)).fetchall()
        tasks = _tasks(linked, by_execution)
        ids: list[UUID] = [key, *(r["originator_id"] for r in executions), *tasks]
        rows = cur.execute(_EVENTS_OF.encode(), (org_id, ids)).fetchall()
    items = [event_item(row) for row in rows]
    positions = _positions_by_aggregate(items)
    # The title is personal data: sealed in the stored event, so it is read from the item,
    # whose data is opened (or erased) like every item's.
    titles = {
        item["aggregate_id"]: item["data"].get("title")
        for item in items
        if item["event_type"] == "Task.Assigned"
    }
    return {
        "contact_id": str(key),
        "org_id": org_id,
        "contact": {"aggregate_id": str(key), "positions": positions[str(key)]},
        "executions": [
            {
                "execution_id": str(row["originator_id"]),
                "workflow_id": row["data"].get("workflow_id"),
                "definition_id": row["data"].get("definition_id"),
                "definition_version": row["data"].get("definition_version"),
                "task_ids": [
                    str(task_id)
                    for task_id, data in tasks.items()
                    if data.get("execution_id") == str(row["originator_id"])
                ],
                "positions": positions[str(row["originator_id"])],
            }
            for row in executions
        ],
        "tasks": [
            {
                "task_id": str(task_id),
                "title": titles.get(str(task_id)),
                "execution_id": data.get("execution_id"),
                "step_id": data.get("step_id"),
                "linked_by": "contact" if data.get("contact_id") == str(key) else "execution",
                "positions": positions[str(task_id)],
            }
            for task_id, data in tasks.items()
        ],
        "workflows": _workflows(items),
        "event_count": len(items),
        "events": items,
    }


def _tasks(*groups: list[dict[str, Any]]) -> dict[UUID, dict[str, Any]]:
    """Task id → its Assigned data, each task once, in the order first found."""
    tasks: dict[UUID, dict[str, Any]] = {}
    for rows in groups:
        for row in rows:
            if row["event_type"] == "Task.Assigned":
                tasks.setdefault(row["originator_id"], row["data"])
    return tasks


def _positions_by_aggregate(items: list[dict[str, Any]]) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = defaultdict(list)
    for item in items:
        positions[item["aggregate_id"]].append(item["position"])
    return positions


def _workflows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workflows that caused the lineage's events, in the order they first appear."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        meta = item["metadata"]
        workflow_id = meta["workflow_id"]
        if workflow_id is None:
            continue
        entry = found.setdefault(
            workflow_id,
            {
                "workflow_id": workflow_id,
                "workflow_type": meta["workflow_type"],
                "run_ids": [],
                "positions": [],
            },
        )
        run_id = meta["workflow_run_id"]
        if run_id is not None and run_id not in entry["run_ids"]:
            entry["run_ids"].append(run_id)
        entry["positions"].append(item["position"])
    return list(found.values())
