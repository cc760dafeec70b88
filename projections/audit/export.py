"""A contact's export (GDPR Art. 20): everything the system holds about one person, in one
document.

Built on `contact_lineage`, which already finds the contact's executions and tasks and every
event of them; this adds what the read models show of each (the contact's row, each task's row,
each execution's row with its step timeline) and, per execution, the emails and HTTP calls its
events recorded, so the person can read what was sent to them without decoding event payloads.

The events section is bounded (`EVENT_LIMIT`, oldest first): ``event_count`` says how many
there are and ``truncated`` whether some were left out; the whole history stays readable through
``GET /events?aggregate_id=...`` (paged or NDJSON).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import Connection

from projections.audit.lineage import contact_lineage
from projections.queries.contacts import get_contact
from projections.queries.executions import get_execution
from projections.queries.tasks import get_task

EVENT_LIMIT = 5000
EMAIL_SENT = "WorkflowExecution.EmailSent"
HTTP_REQUEST_MADE = "WorkflowExecution.HttpRequestMade"
_EMAIL_FIELDS = ("step_id", "to", "subject", "delivered", "message_id", "error")
_HTTP_FIELDS = ("step_id", "method", "url", "status_code", "duration_ms", "error")


def contact_export(
    conn: Connection[Any], org_id: str, contact_id: object, *, event_limit: int = EVENT_LIMIT
) -> dict[str, Any] | None:
    """The export document, or None when `contact_id` is no contact of `org_id`."""
    lineage = contact_lineage(conn, org_id, contact_id)
    if lineage is None:
        return None
    events: list[dict[str, Any]] = lineage["events"]
    executions = []
    for entry in lineage["executions"]:
        execution_id = entry["execution_id"]
        own = [e for e in events if e["aggregate_id"] == execution_id]
        executions.append(
            {
                "execution_id": execution_id,
                "workflow_id": entry["workflow_id"],
                "definition_id": entry["definition_id"],
                "definition_version": entry["definition_version"],
                "task_ids": entry["task_ids"],
                "read_model": get_execution(conn, org_id, execution_id),
                "emails": _recorded(own, EMAIL_SENT, _EMAIL_FIELDS),
                "http_calls": _recorded(own, HTTP_REQUEST_MADE, _HTTP_FIELDS),
            }
        )
    tasks = [
        {
            "task_id": entry["task_id"],
            "execution_id": entry["execution_id"],
            "linked_by": entry["linked_by"],
            "read_model": get_task(conn, org_id, entry["task_id"]),
        }
        for entry in lineage["tasks"]
    ]
    return {
        "format": "json",
        "generated_at": datetime.now(UTC).isoformat(),
        "org_id": org_id,
        "contact_id": lineage["contact_id"],
        "contact": get_contact(conn, org_id, lineage["contact_id"]),
        "tasks": tasks,
        "executions": executions,
        "workflows": lineage["workflows"],
        "event_count": len(events),
        "event_limit": event_limit,
        "truncated": len(events) > event_limit,
        "events": events[:event_limit],
    }


def _recorded(
    events: list[dict[str, Any]], event_type: str, fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    """What one kind of event recorded, field by field, with when and where in the store."""
    return [
        {
            "occurred_at": event["occurred_at"],
            "position": event["position"],
            **{name: event["data"].get(name) for name in fields},
        }
        for event in events
        if event["event_type"] == event_type
    ]
