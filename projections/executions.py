"""The ``executions`` read model: one row per workflow execution, with its step timeline.

``steps`` is a list with one entry per step *run* (a step that a ``then_goto`` loop runs twice
has two entries), in the order they started::

    {"step_id", "step_type", "name", "status", "started_at", "completed_at",
     "waiting_for", "until", "detail", "output", "error",
     "reminders": [...], "emails": [...], "http_requests": [...]}

Entry statuses are running | waiting | completed | failed, and cancelled for a step that was
still open when its execution was cancelled. A step that undoes another (saga compensation,
docs/engine.md) has an entry of its own with ``"compensation_of": <the undone step's id>``;
while compensations run the execution is ``compensating``, then ``compensated`` or
``compensation_failed`` (with ``compensation_failures``: ``[{step_id, compensation_of,
error}]`` on the row's ``output``). A step parked by ``on_failure: park`` is
``needs_attention`` (so is the execution) until an admin retries it (the entry becomes
``failed`` and a new entry runs it again) or skips it (``skipped``); either way the entry
gets ``resolution``: ``{action, requested_by, reason, at}``. A failed or timed-out execution
names the step it ended on in ``current_step_id``; a retry of it (``Retried``) adds an entry
with status ``retried`` for the step it runs again from, with ``retry``: ``{attempt,
requested_by, reason, previous_status, previous_error, at}``, and makes it ``running`` again.
An execution moved to another version (``Migrated``) takes its ``definition_version``; the
entry of the step it waited in ends ``migrated`` with ``migration``: ``{from_version,
to_version, to_step, step_mapping, requested_by, at}``.
A step inside a container step has ``"within"``: ``{"step_id": <the parallel step>,
"branch": <its name>}``; a branch's step that another branch's end or failure (or a cancel)
stopped is ``cancelled`` with the reason in ``error``, and the execution stays ``waiting``
while a branch still waits. Events about a step (waiting, reminders, emails, HTTP calls, its
outcome) land on the latest entry for that step id. Times inside the timeline are ISO-8601
strings because they live in JSON.
"""

from __future__ import annotations

from typing import Any

from projections.events import RecordedEvent
from projections.rows import (
    Column,
    Row,
    RowProjection,
    error_text,
    id_text,
    require,
    touched,
)

NAME = "executions"
PREFIX = "WorkflowExecution."
CREATED = PREFIX + "Created"
STARTED = PREFIX + "Started"
STEP_STARTED = PREFIX + "StepStarted"
STEP_COMPLETED = PREFIX + "StepCompleted"
STEP_FAILED = PREFIX + "StepFailed"
STEP_CANCELLED = PREFIX + "StepCancelled"
WAITING = PREFIX + "Waiting"
UI_STATUS_CHANGED = PREFIX + "UiStatusChanged"
REMINDER_SENT = PREFIX + "ReminderSent"
EMAIL_SENT = PREFIX + "EmailSent"
HTTP_REQUEST_MADE = PREFIX + "HttpRequestMade"
COMPLETED = PREFIX + "Completed"
FAILED = PREFIX + "Failed"
CANCELLED = PREFIX + "Cancelled"
TIMED_OUT = PREFIX + "TimedOut"
STEP_PARKED = PREFIX + "StepParked"
PARKED_STEP_RESOLVED = PREFIX + "ParkedStepResolved"
RETRIED = PREFIX + "Retried"
MIGRATED = PREFIX + "Migrated"
COMPENSATION_STARTED = PREFIX + "CompensationStarted"
COMPENSATION_STEP_STARTED = PREFIX + "CompensationStepStarted"
COMPENSATED = PREFIX + "Compensated"
COMPENSATION_FAILED = PREFIX + "CompensationFailed"

OPEN = frozenset({"running", "waiting", "needs_attention"})

COLUMNS = (
    Column("id", "uuid"),
    Column("org_id", "text"),
    Column("definition_id", "text"),
    Column("definition_version", "int4"),
    Column("contact_id", "text"),
    Column("workflow_id", "text"),
    Column("workflow_run_id", "text"),
    Column("status", "text"),
    Column("ui_status", "text"),
    Column("current_step_id", "text"),
    Column("input", "jsonb"),
    Column("output", "jsonb"),
    Column("error", "text"),
    Column("cancelled_by", "text"),
    Column("trigger", "jsonb"),
    Column("steps", "jsonb"),
    Column("started_at", "timestamptz"),
    Column("completed_at", "timestamptz"),
    Column("created_at", "timestamptz"),
    Column("updated_at", "timestamptz"),
    Column("version", "int4"),
)


def created(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    version = data.get("definition_version")
    return {
        "id": event.originator_id,
        "org_id": data.get("org_id") or event.org_id,
        "definition_id": id_text(data.get("definition_id")),
        "definition_version": None if version is None else int(version),
        "contact_id": id_text(data.get("contact_id")),
        "workflow_id": data.get("workflow_id"),
        "workflow_run_id": None,
        "status": "pending",
        "ui_status": None,
        "current_step_id": None,
        "input": data.get("input"),
        "output": None,
        "error": None,
        "cancelled_by": None,
        "trigger": data.get("trigger"),
        "steps": [],
        "started_at": None,
        "completed_at": None,
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "version": event.originator_version,
    }


def started(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["status"] = "running"
    new["workflow_run_id"] = event.data.get("workflow_run_id")
    if new["started_at"] is None:
        new["started_at"] = event.occurred_at
    return new


def step_started(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    data = event.data
    if new["status"] != "compensating":
        new["status"] = "running"
    new["current_step_id"] = data["step_id"]
    entry = _entry(
        data["step_id"], event, step_type=data.get("step_type"), name=data.get("step_name")
    )
    if data.get("within") is not None:
        entry["within"] = data["within"]
    new["steps"] = [*new["steps"], entry]
    return new


def step_completed(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new = _update_step(
        new,
        event,
        status="completed",
        completed_at=event.occurred_at.isoformat(),
        output=event.data.get("output"),
    )
    _resume(new)
    return new


def step_failed(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new = _update_step(
        new,
        event,
        status="failed",
        completed_at=event.occurred_at.isoformat(),
        error=error_text(event.data.get("error")),
    )
    _resume(new)
    return new


def step_cancelled(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new = _update_step(
        new,
        event,
        status="cancelled",
        completed_at=event.occurred_at.isoformat(),
        error=error_text(event.data.get("reason")),
    )
    _resume(new)
    return new


def waiting(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    data = event.data
    new["status"] = "waiting"
    new["current_step_id"] = data["step_id"]
    return _update_step(
        new,
        event,
        status="waiting",
        waiting_for=data.get("waiting_for"),
        until=data.get("until"),
        detail=data.get("detail"),
    )


def ui_status_changed(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["ui_status"] = event.data.get("new_ui_status")
    return new


def reminder_sent(row: Row | None, event: RecordedEvent) -> Row:
    return _record_on_step(row, event, "reminders", ("task_id", "recipient", "count", "message"))


def email_sent(row: Row | None, event: RecordedEvent) -> Row:
    return _record_on_step(
        row, event, "emails", ("to", "subject", "delivered", "message_id", "error")
    )


def http_request_made(row: Row | None, event: RecordedEvent) -> Row:
    return _record_on_step(
        row,
        event,
        "http_requests",
        ("method", "url", "status_code", "duration_ms", "error"),
    )


def completed(row: Row | None, event: RecordedEvent) -> Row:
    new = _finish(row, event, "completed")
    new["output"] = event.data.get("output")
    return new


def failed(row: Row | None, event: RecordedEvent) -> Row:
    new = _finish(row, event, "failed")
    _ended_on(new, event)
    error = error_text(event.data.get("error"))
    new["error"] = error
    return _close_open_step(new, event, "failed", error)


def cancelled(row: Row | None, event: RecordedEvent) -> Row:
    new = _finish(row, event, "cancelled")
    new["error"] = error_text(event.data.get("reason"))
    new["cancelled_by"] = event.data.get("cancelled_by")
    return _close_open_step(new, event, "cancelled", None)


def timed_out(row: Row | None, event: RecordedEvent) -> Row:
    new = _finish(row, event, "timed_out")
    _ended_on(new, event)
    reason = error_text(event.data.get("reason")) or "timed out"
    new["error"] = reason
    return _close_open_step(new, event, "failed", reason)


def retried(row: Row | None, event: RecordedEvent) -> Row:
    """The execution runs again from `from_step`: the timeline keeps the earlier attempt's
    entries and gets a `retried` marker naming the step, who asked and why; the new run's
    steps follow as entries of their own."""
    new = touched(require(row, event), event)
    data = event.data
    at = event.occurred_at.isoformat()
    new["status"] = "running"
    new["current_step_id"] = data.get("from_step")
    new["workflow_run_id"] = data.get("workflow_run_id")
    new["completed_at"] = None
    new["error"] = None
    new["output"] = None
    marker = _entry(
        data["from_step"], event, step_type=data.get("step_type"), name=data.get("step_name")
    )
    marker.update(
        status="retried",
        completed_at=at,
        retry={
            "attempt": data.get("attempt"),
            "requested_by": data.get("requested_by"),
            "reason": data.get("reason"),
            "previous_status": data.get("previous_status"),
            "previous_error": data.get("previous_error"),
            "at": at,
        },
    )
    new["steps"] = [*new["steps"], marker]
    return new


def migrated(row: Row | None, event: RecordedEvent) -> Row:
    """The execution moved to another version of its definition while it waited in `step_id`:
    that entry ends `migrated` with `migration` (from and to version, the step it goes on in,
    the mapping, who asked); the wait goes on as a new entry of the new version's step."""
    new = touched(require(row, event), event)
    data = event.data
    version = data.get("definition_version")
    new["definition_version"] = None if version is None else int(version)
    new["status"] = "running"
    new["current_step_id"] = data.get("to_step")
    at = event.occurred_at.isoformat()
    return _update_step(
        new,
        event,
        status="migrated",
        completed_at=at,
        migration={
            "from_version": data.get("from_version"),
            "to_version": version,
            "to_step": data.get("to_step"),
            "step_mapping": data.get("step_mapping"),
            "requested_by": data.get("requested_by"),
            "at": at,
        },
    )


def step_parked(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["status"] = "needs_attention"
    new["current_step_id"] = event.data["step_id"]
    return _update_step(
        new,
        event,
        status="needs_attention",
        completed_at=event.occurred_at.isoformat(),
        error=error_text(event.data.get("error")),
    )


def parked_step_resolved(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    data = event.data
    action = data.get("action")
    new["status"] = "running"
    return _update_step(
        new,
        event,
        status="skipped" if action == "skip" else "failed",
        resolution={
            "action": action,
            "requested_by": data.get("requested_by"),
            "reason": data.get("reason"),
            "at": event.occurred_at.isoformat(),
        },
    )


def compensation_started(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    data = event.data
    reason = error_text(data.get("reason"))
    cause = data.get("cause")
    new["status"] = "compensating"
    new["error"] = reason
    new["cancelled_by"] = data.get("cancelled_by")
    if cause == "cancelled":
        return _close_open_step(new, event, "cancelled", None)
    return _close_open_step(new, event, "failed", reason)


def compensation_step_started(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    data = event.data
    new["current_step_id"] = data["step_id"]
    entry = _entry(
        data["step_id"], event, step_type=data.get("step_type"), name=data.get("step_name")
    )
    entry["compensation_of"] = data.get("compensation_of")
    new["steps"] = [*new["steps"], entry]
    return new


def compensated(row: Row | None, event: RecordedEvent) -> Row:
    new = _finish(row, event, "compensated")
    new["current_step_id"] = None
    return new


def compensation_failed(row: Row | None, event: RecordedEvent) -> Row:
    new = _finish(row, event, "compensation_failed")
    new["current_step_id"] = None
    new["error"] = error_text(event.data.get("error"))
    new["output"] = {"compensation_failures": event.data.get("failures") or []}
    return new


HANDLERS = {
    CREATED: created,
    STARTED: started,
    STEP_STARTED: step_started,
    STEP_COMPLETED: step_completed,
    STEP_FAILED: step_failed,
    STEP_CANCELLED: step_cancelled,
    WAITING: waiting,
    UI_STATUS_CHANGED: ui_status_changed,
    REMINDER_SENT: reminder_sent,
    EMAIL_SENT: email_sent,
    HTTP_REQUEST_MADE: http_request_made,
    COMPLETED: completed,
    FAILED: failed,
    CANCELLED: cancelled,
    TIMED_OUT: timed_out,
    STEP_PARKED: step_parked,
    PARKED_STEP_RESOLVED: parked_step_resolved,
    RETRIED: retried,
    MIGRATED: migrated,
    COMPENSATION_STARTED: compensation_started,
    COMPENSATION_STEP_STARTED: compensation_step_started,
    COMPENSATED: compensated,
    COMPENSATION_FAILED: compensation_failed,
}


def executions_projection() -> RowProjection:
    return RowProjection(
        name=NAME, table="executions", columns=COLUMNS, handlers=HANDLERS, erasable=True
    )


# -- timeline helpers (all return new objects; the input row is never changed) ----------------


def _entry(
    step_id: str, event: RecordedEvent, *, step_type: str | None, name: str | None
) -> dict[str, Any]:
    return {
        "step_id": step_id,
        "step_type": step_type,
        "name": name,
        "status": "running",
        "started_at": event.occurred_at.isoformat(),
        "completed_at": None,
        "waiting_for": None,
        "until": None,
        "detail": None,
        "output": None,
        "error": None,
        "reminders": [],
        "emails": [],
        "http_requests": [],
    }


def _latest_index(steps: list[dict[str, Any]], step_id: str) -> int | None:
    for index in range(len(steps) - 1, -1, -1):
        if steps[index]["step_id"] == step_id:
            return index
    return None


def _update_step(row: Row, event: RecordedEvent, **changes: Any) -> Row:
    """Change the latest entry of the event's step; start one if the step never announced itself
    (a tolerant timeline beats a projection stuck on an event it cannot place)."""
    step_id = event.data["step_id"]
    steps = list(row["steps"])
    index = _latest_index(steps, step_id)
    if index is None:
        steps.append({**_entry(step_id, event, step_type=None, name=None), **changes})
    else:
        steps[index] = {**steps[index], **changes}
    row["steps"] = steps
    return row


def _record_on_step(
    row: Row | None, event: RecordedEvent, kind: str, fields: tuple[str, ...]
) -> Row:
    new = touched(require(row, event), event)
    record = {field: event.data.get(field) for field in fields}
    record["at"] = event.occurred_at.isoformat()
    step_id = event.data["step_id"]
    index = _latest_index(new["steps"], step_id)
    existing = [] if index is None else new["steps"][index].get(kind, [])
    return _update_step(new, event, **{kind: [*existing, record]})


def _resume(row: Row) -> None:
    """A step finishing after a wait means the execution is running again, unless a branch of
    a parallel step still waits (its entry, marked `within`, is still waiting)."""
    if row["status"] == "waiting" and not any(
        entry.get("within") is not None and entry["status"] == "waiting" for entry in row["steps"]
    ):
        row["status"] = "running"


def _finish(row: Row | None, event: RecordedEvent, status: str) -> Row:
    new = touched(require(row, event), event)
    new["status"] = status
    new["completed_at"] = event.occurred_at
    return new


def _ended_on(row: Row, event: RecordedEvent) -> None:
    """A failed or timed-out execution names the step it ended on (also one that failed before
    it could record its start, a template that did not resolve, say): a retry starts there."""
    step_id = event.data.get("step_id")
    if step_id is not None:
        row["current_step_id"] = step_id


def _close_open_step(row: Row, event: RecordedEvent, status: str, error: str | None) -> Row:
    """Close the step the execution ended in, if it was still running or waiting."""
    step_id = event.data.get("step_id") or row["current_step_id"]
    if step_id is None:
        return row
    index = _latest_index(row["steps"], step_id)
    if index is None or row["steps"][index]["status"] not in OPEN:
        return row
    steps = list(row["steps"])
    steps[index] = {
        **steps[index],
        "status": status,
        "completed_at": event.occurred_at.isoformat(),
        "error": error if error is not None else steps[index]["error"],
    }
    row["steps"] = steps
    return row
