"""The ``tasks`` read model: one row per task, for task lists, "my tasks" and execution pages.

Task metadata after a status change is the domain's own merge (`domain.values.merge_object`:
keys given as None are removed), imported rather than re-implemented so the read model can
never drift from what the aggregate holds.
"""

from __future__ import annotations

from domain.values import merge_object
from projections.events import RecordedEvent
from projections.rows import Column, Row, RowProjection, id_text, parse_time, require, touched

NAME = "tasks"
ASSIGNED = "Task.Assigned"
UPDATED = "Task.Updated"
STATUS_CHANGED = "Task.StatusChanged"
REASSIGNED = "Task.Reassigned"
DUE_DATE_SET = "Task.DueDateSet"

COLUMNS = (
    Column("id", "uuid"),
    Column("org_id", "text"),
    Column("title", "text"),
    Column("description", "text"),
    Column("assigned_to", "text"),
    Column("priority", "text"),
    Column("status", "text"),
    Column("due_date", "timestamptz"),
    Column("execution_id", "text"),
    Column("step_id", "text"),
    Column("contact_id", "text"),
    Column("metadata", "jsonb"),
    Column("completed_at", "timestamptz"),
    Column("created_at", "timestamptz"),
    Column("updated_at", "timestamptz"),
    Column("version", "int4"),
)
UPDATABLE = frozenset({"title", "description", "priority", "metadata"})


def assigned(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    return {
        "id": event.originator_id,
        "org_id": data.get("org_id") or event.org_id,
        "title": data["title"],
        "description": data.get("description"),
        "assigned_to": data["assigned_to"],
        "priority": data.get("priority") or "medium",
        "status": data.get("status") or "todo",
        "due_date": parse_time(data.get("due_date")),
        "execution_id": id_text(data.get("execution_id")),
        "step_id": data.get("step_id"),
        "contact_id": id_text(data.get("contact_id")),
        "metadata": data.get("metadata") or {},
        "completed_at": None,
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "version": event.originator_version,
    }


def updated(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    for name, change in event.data["changes"].items():
        if name in UPDATABLE:
            value = change["new"]
            new[name] = (value or {}) if name == "metadata" else value
    return new


def status_changed(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    data = event.data
    new["status"] = data["new_status"]
    new["metadata"] = merge_object(new["metadata"] or {}, data.get("metadata") or {})
    new["completed_at"] = parse_time(data.get("completed_at"))
    return new


def reassigned(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["assigned_to"] = event.data["new_assigned_to"]
    return new


def due_date_set(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["due_date"] = parse_time(event.data.get("new_due_date"))
    return new


HANDLERS = {
    ASSIGNED: assigned,
    UPDATED: updated,
    STATUS_CHANGED: status_changed,
    REASSIGNED: reassigned,
    DUE_DATE_SET: due_date_set,
}


def tasks_projection() -> RowProjection:
    return RowProjection(
        name=NAME, table="tasks", columns=COLUMNS, handlers=HANDLERS, erasable=True
    )
