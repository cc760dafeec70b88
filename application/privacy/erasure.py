"""Which Temporal workflows held a contact's data, and destroying their payload keys.

The links are the ones the contact's lineage follows (docs/auditing.md): the contact's own
events, the executions created for it (`WorkflowExecution.Created` carries `contact_id`), the
tasks those executions created or that name the contact (`Task.Assigned`), and the workflow
that caused each of their events (the `workflow_id` every event records; an execution only when
it is one of the contact's own). A command workflow
that was refused appended no event; it is still found by its id, which names the resource it
was for (`contact-update-<contact id>-…`, `task-complete-<task id>-…`).
"""

from __future__ import annotations

from psycopg import Connection
from psycopg.rows import DictRow

_LINKED = (
    "SELECT originator_id::text AS id, event_type FROM events"
    " WHERE org_id = %s AND data->>'contact_id' = %s"
    " AND event_type IN ('WorkflowExecution.Created', 'Task.Assigned')"
)
_TASKS_OF = (
    "SELECT originator_id::text AS id FROM events"
    " WHERE org_id = %s AND data->>'execution_id' = ANY(%s) AND event_type = 'Task.Assigned'"
)
_WORKFLOWS_OF = (
    "SELECT DISTINCT workflow_id FROM events"
    " WHERE org_id = %s AND originator_id = ANY(%s::uuid[]) AND workflow_id IS NOT NULL"
)
_KEYED = (
    "SELECT workflow_id FROM temporal_payload_keys"
    " WHERE wrapped_key IS NOT NULL AND workflow_id LIKE ANY(%s)"
)
_DESTROY = (
    "UPDATE temporal_payload_keys SET wrapped_key = NULL, destroyed_at = now(),"
    " destroyed_reason = %s WHERE workflow_id = ANY(%s) AND wrapped_key IS NOT NULL"
)


def contact_executions(conn: Connection[DictRow], org_id: str, contact_id: str) -> list[str]:
    """Ids of the executions created for the contact."""
    rows = conn.execute(_LINKED, (org_id, contact_id)).fetchall()
    return sorted(row["id"] for row in rows if row["event_type"] == "WorkflowExecution.Created")


def contact_workflows(conn: Connection[DictRow], org_id: str, contact_id: str) -> set[str]:
    """Every workflow id that may have carried the contact's data."""
    linked = conn.execute(_LINKED, (org_id, contact_id)).fetchall()
    executions = [row["id"] for row in linked if row["event_type"] == "WorkflowExecution.Created"]
    tasks = {row["id"] for row in linked if row["event_type"] == "Task.Assigned"}
    tasks.update(row["id"] for row in conn.execute(_TASKS_OF, (org_id, executions)).fetchall())
    ids = [contact_id, *executions, *sorted(tasks)]
    own = {f"execution-{execution_id}" for execution_id in executions}
    # An execution counts only when it was created for the contact: another contact's that
    # touched this one keeps its key (it may still be running, and it is that person's).
    workflows = {
        row["workflow_id"]
        for row in conn.execute(_WORKFLOWS_OF, (org_id, ids)).fetchall()
        if not row["workflow_id"].startswith("execution-") or row["workflow_id"] in own
    }
    workflows.update(own)
    patterns = [f"%-{resource}%" for resource in ids]
    workflows.update(row["workflow_id"] for row in conn.execute(_KEYED, (patterns,)).fetchall())
    return workflows


def destroy_payload_keys(conn: Connection[DictRow], workflow_ids: set[str], reason: str) -> int:
    """Destroy the live payload keys of these workflows; how many were destroyed."""
    if not workflow_ids:
        return 0
    return conn.execute(_DESTROY, (reason, sorted(workflow_ids))).rowcount
