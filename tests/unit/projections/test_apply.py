"""The pure apply functions of each read model: rows from events, no database."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from projections.contacts import contacts_projection
from projections.definitions import definitions_projection, version_row
from projections.errors import UnexpectedEventError
from projections.events import RecordedEvent
from projections.executions import executions_projection
from projections.rows import Row, RowProjection
from projections.tasks import tasks_projection

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class Stream:
    """Events of one aggregate, with versions, positions and times that advance."""

    def __init__(self, projection: RowProjection, aggregate_type: str) -> None:
        self.projection = projection
        self.aggregate_type = aggregate_type
        self.id: UUID = uuid.uuid4()
        self.version = 0
        self.row: Row | None = None
        self.rows: list[Row] = []

    def event(self, event_type: str, **data: Any) -> RecordedEvent:
        self.version += 1
        return RecordedEvent(
            position=self.version * 10,
            originator_id=self.id,
            originator_version=self.version,
            aggregate_type=self.aggregate_type,
            event_type=event_type,
            data=data,
            org_id="org_a",
            actor="user:u1",
            correlation_id=None,
            occurred_at=T0 + timedelta(minutes=self.version),
        )

    def apply(self, event_type: str, **data: Any) -> Row:
        before = copy.deepcopy(self.row)
        new = self.projection.apply(self.row, self.event(event_type, **data))
        assert self.row == before, "apply must not change the row it was given"
        self.row = new
        return new


def test_a_contact_row_follows_its_lifecycle() -> None:
    contact = Stream(contacts_projection(), "contact")
    contact.apply(
        "Contact.Created",
        org_id="org_a",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone=None,
        status="lead",
        fields={"source": "web"},
    )
    contact.apply(
        "Contact.FieldsUpdated",
        changes={
            "email": {"old": "ada@example.com", "new": "ada@engine.org"},
            "fields": {"old": {"source": "web"}, "new": {"source": "web", "score": 7}},
        },
    )
    contact.apply("Contact.StatusChanged", old_status="lead", new_status="active")
    row = contact.apply("Contact.Archived", reason="duplicate")

    assert row["id"] == contact.id
    assert row["org_id"] == "org_a"
    assert row["email"] == "ada@engine.org"
    assert row["fields"] == {"source": "web", "score": 7}
    assert row["status"] == "active"
    assert row["archived"] is True
    assert row["archived_reason"] == "duplicate"
    assert row["created_at"] == T0 + timedelta(minutes=1)
    assert row["updated_at"] == T0 + timedelta(minutes=4)
    assert row["version"] == 4


def test_an_event_already_reflected_in_the_row_is_skipped() -> None:
    contact = Stream(contacts_projection(), "contact")
    contact.apply(
        "Contact.Created",
        org_id="org_a",
        first_name="Ada",
        last_name=None,
        email=None,
        phone=None,
        status="active",
        fields={},
    )
    change = contact.event("Contact.StatusChanged", old_status="active", new_status="lost")
    assert contact.row is not None
    once = contact.projection.apply(contact.row, change)
    stale = {**once, "status": "sentinel"}
    assert contact.projection.apply(stale, change) is stale


def test_an_update_for_a_contact_never_created_is_an_error_not_a_skip() -> None:
    contact = Stream(contacts_projection(), "contact")
    with pytest.raises(UnexpectedEventError, match=r"Contact\.StatusChanged"):
        contact.apply("Contact.StatusChanged", old_status="a", new_status="b")


def _assigned_task() -> Stream:
    task = Stream(tasks_projection(), "task")
    execution_id = uuid.uuid4()
    task.apply(
        "Task.Assigned",
        org_id="org_a",
        title="Review Ada",
        description=None,
        assigned_to="role:admin",
        priority="medium",
        due_date="2024-05-04T09:00:00+00:00",
        execution_id=str(execution_id).upper(),
        step_id="step_2",
        contact_id=None,
        metadata={"form": "a", "stale": 1},
        status="todo",
    )
    return task


def test_a_task_row_keeps_ids_canonical_and_dates_typed() -> None:
    row = _assigned_task().row
    assert row is not None
    assert row["execution_id"] == row["execution_id"].lower()
    assert row["due_date"] == datetime(2024, 5, 4, 9, 0, tzinfo=UTC)
    assert row["status"] == "todo"
    assert row["completed_at"] is None


def test_completing_a_task_merges_its_metadata_and_records_when() -> None:
    task = _assigned_task()
    task.apply("Task.Updated", changes={"priority": {"old": "medium", "new": "high"}})
    row = task.apply(
        "Task.StatusChanged",
        old_status="todo",
        new_status="done",
        metadata={"outcome": "approved", "stale": None},
        completed_at="2024-05-02T10:00:00+00:00",
    )
    assert row["priority"] == "high"
    assert row["status"] == "done"
    assert row["metadata"] == {"form": "a", "outcome": "approved"}
    assert row["completed_at"] == datetime(2024, 5, 2, 10, 0, tzinfo=UTC)

    reopened = task.apply(
        "Task.StatusChanged", old_status="done", new_status="todo", metadata={}, completed_at=None
    )
    assert reopened["completed_at"] is None
    assert reopened["metadata"] == {"form": "a", "outcome": "approved"}


def test_reassigning_and_rescheduling_a_task() -> None:
    task = _assigned_task()
    task.apply("Task.Reassigned", old_assigned_to="role:admin", new_assigned_to="user:u7")
    row = task.apply("Task.DueDateSet", old_due_date="2024-05-04T09:00:00+00:00", new_due_date=None)
    assert row["assigned_to"] == "user:u7"
    assert row["due_date"] is None


def _running_execution() -> Stream:
    execution = Stream(executions_projection(), "workflow_execution")
    execution.apply(
        "WorkflowExecution.Created",
        org_id="org_a",
        definition_id=str(uuid.uuid4()),
        definition_version=2,
        contact_id=None,
        input={"payload": {"first_name": "Ada"}},
        workflow_id="execution-1",
        trigger={"type": "webhook"},
    )
    assert execution.row is not None and execution.row["status"] == "pending"
    execution.apply("WorkflowExecution.Started", workflow_run_id="run-1")
    return execution


def test_an_execution_timeline_records_each_step_run() -> None:
    execution = _running_execution()
    execution.apply(
        "WorkflowExecution.StepStarted", step_id="step_1", step_type="trigger", step_name="Form"
    )
    execution.apply("WorkflowExecution.StepCompleted", step_id="step_1", output={"ok": True})
    execution.apply(
        "WorkflowExecution.StepStarted",
        step_id="step_3",
        step_type="wait_for_task",
        step_name="Wait for review",
    )
    waiting = execution.apply(
        "WorkflowExecution.Waiting",
        step_id="step_3",
        waiting_for="task",
        until="2024-05-08T09:00:00+00:00",
        detail={"task_id": "t1"},
    )
    assert waiting["status"] == "waiting"
    assert waiting["current_step_id"] == "step_3"

    execution.apply(
        "WorkflowExecution.ReminderSent",
        step_id="step_3",
        task_id="t1",
        recipient="role:admin",
        count=1,
        message="Please review",
    )
    execution.apply("WorkflowExecution.StepCompleted", step_id="step_3", output={"outcome": "ok"})
    execution.apply(
        "WorkflowExecution.UiStatusChanged",
        step_id="step_4",
        old_ui_status=None,
        new_ui_status="approved",
    )
    execution.apply(
        "WorkflowExecution.StepStarted", step_id="step_5", step_type="send_email", step_name="Mail"
    )
    execution.apply(
        "WorkflowExecution.EmailSent",
        step_id="step_5",
        to="ada@example.com",
        subject="Welcome",
        delivered=True,
        message_id="m1",
        error=None,
    )
    execution.apply("WorkflowExecution.StepCompleted", step_id="step_5", output={})
    row = execution.apply("WorkflowExecution.Completed", output={"done": True})

    assert row["status"] == "completed"
    assert row["ui_status"] == "approved"
    assert row["workflow_run_id"] == "run-1"
    assert row["output"] == {"done": True}
    assert row["started_at"] == T0 + timedelta(minutes=2)
    assert row["completed_at"] == row["updated_at"]
    steps = row["steps"]
    assert [(s["step_id"], s["status"]) for s in steps] == [
        ("step_1", "completed"),
        ("step_3", "completed"),
        ("step_5", "completed"),
    ]
    wait = steps[1]
    assert wait["waiting_for"] == "task"
    assert wait["until"] == "2024-05-08T09:00:00+00:00"
    assert wait["output"] == {"outcome": "ok"}
    assert [r["count"] for r in wait["reminders"]] == [1]
    assert steps[2]["emails"][0]["subject"] == "Welcome"
    assert steps[0]["started_at"] < steps[0]["completed_at"]


def test_a_step_run_twice_gets_two_entries_and_events_land_on_the_latest() -> None:
    execution = _running_execution()
    for attempt in (1, 2):
        execution.apply(
            "WorkflowExecution.StepStarted",
            step_id="step_2",
            step_type="http_request",
            step_name="Hook",
        )
        execution.apply(
            "WorkflowExecution.HttpRequestMade",
            step_id="step_2",
            method="POST",
            url="http://example.test/hook",
            status_code=200 + attempt,
            duration_ms=12,
            error=None,
        )
    row = execution.apply("WorkflowExecution.StepFailed", step_id="step_2", error={"code": 500})
    first, second = row["steps"]
    assert [c["status_code"] for c in first["http_requests"]] == [201]
    assert [c["status_code"] for c in second["http_requests"]] == [202]
    assert first["status"] == "running"
    assert second["status"] == "failed"
    assert second["error"] == '{"code": 500}'


@pytest.mark.parametrize(
    ("event_type", "data", "status", "step_status"),
    [
        ("WorkflowExecution.Failed", {"step_id": "step_3", "error": "boom"}, "failed", "failed"),
        (
            "WorkflowExecution.TimedOut",
            {"step_id": "step_3", "reason": "7 days"},
            "timed_out",
            "failed",
        ),
        (
            "WorkflowExecution.Cancelled",
            {"reason": "withdrawn", "cancelled_by": "user:u1"},
            "cancelled",
            "cancelled",
        ),
    ],
)
def test_an_execution_that_ends_early_closes_the_step_it_was_in(
    event_type: str, data: dict[str, Any], status: str, step_status: str
) -> None:
    execution = _running_execution()
    execution.apply(
        "WorkflowExecution.StepStarted",
        step_id="step_3",
        step_type="wait_for_signal",
        step_name="W",
    )
    execution.apply(
        "WorkflowExecution.Waiting", step_id="step_3", waiting_for="signal", until=None, detail=None
    )
    row = execution.apply(event_type, **data)
    assert row["status"] == status
    assert row["completed_at"] is not None
    assert row["error"] is not None
    assert row["steps"][-1]["status"] == step_status
    if status == "cancelled":
        assert row["cancelled_by"] == "user:u1"
        assert row["error"] == "withdrawn"


def test_a_definition_row_tracks_its_latest_and_active_versions() -> None:
    definition = Stream(definitions_projection(), "workflow_definition")
    definition.apply("WorkflowDefinition.Created", org_id="org_a")
    publish = definition.event(
        "WorkflowDefinition.VersionPublished",
        version=1,
        name="Onboarding",
        description="v1",
        statuses=[],
        steps=[{"id": "step_1", "type": "trigger"}],
        trigger={"type": "webhook"},
    )
    definition.row = definition.projection.apply(definition.row, publish)
    definition.apply("WorkflowDefinition.Activated", version=1)
    row = definition.apply(
        "WorkflowDefinition.VersionPublished",
        version=2,
        name="Onboarding 2",
        description="v2",
        statuses=[],
        steps=[],
        trigger=None,
    )
    assert row["name"] == "Onboarding 2"
    assert row["current_version"] == 2
    assert row["is_active"] is True
    assert row["active_version"] == 1
    row = definition.apply("WorkflowDefinition.Deactivated")
    assert row["is_active"] is False
    assert row["active_version"] is None

    body = version_row("org_a", publish)
    assert body["version"] == 1
    assert body["steps"] == [{"id": "step_1", "type": "trigger"}]
    assert body["published_at"] == publish.occurred_at


def test_apply_all_applies_a_batch_over_loaded_rows_and_reports_what_changed() -> None:
    projection = contacts_projection()
    contact = Stream(projection, "contact")
    created = contact.event(
        "Contact.Created",
        org_id="org_a",
        first_name="Ada",
        last_name=None,
        email=None,
        phone=None,
        status="lead",
        fields={},
    )
    loaded = {contact.id: projection.apply(None, created)}
    replayed_and_new = [
        created,  # already in the loaded row: skipped
        contact.event("Contact.StatusChanged", old_status="lead", new_status="active"),
        contact.event("Contact.Archived", reason=None),
    ]
    rows, applied = projection.apply_all(loaded, replayed_and_new)
    assert [e.event_type for e in applied] == ["Contact.StatusChanged", "Contact.Archived"]
    assert rows[contact.id]["status"] == "active"
    assert rows[contact.id]["archived"] is True
    assert loaded[contact.id]["status"] == "lead"


def test_an_event_type_without_a_handler_is_an_error_not_a_skip() -> None:
    contact = Stream(contacts_projection(), "contact")
    with pytest.raises(UnexpectedEventError, match="no handler"):
        contact.projection.apply(None, contact.event("Contact.Merged"))
