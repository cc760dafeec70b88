from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from application.bundle import Services, build_services
from worker.activities.commands import CommandActivities
from worker.commands import (
    AssignTask,
    ChangeTaskStatus,
    CompleteTask,
    ContactChanges,
    CreateContact,
    CreateDefinition,
    ReassignTask,
    SetTaskDueDate,
    TaskChanges,
    UpdateContact,
    UpdateTask,
    task_patch,
)
from worker.contracts import (
    ADMIN_COMMAND_WORKFLOW,
    CONTACT_COMMAND_WORKFLOW,
    DEFINITION_COMMAND_WORKFLOW,
    TASK_COMMAND_WORKFLOW,
    AdminCommand,
    CommandMeta,
    CommandResult,
    ContactCommand,
    TaskCommand,
)
from worker.handlers import CommandHandlers
from worker.main import build_worker

META = CommandMeta(org_id="org_a", actor="user:42", correlation_id="corr-1", request_id="req-1")


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url)
    yield built
    built.close()


@pytest.fixture
async def running_worker(
    temporal_env: WorkflowEnvironment, services: Services, task_queue: str
) -> AsyncIterator[None]:
    async with build_worker(temporal_env.client, services, task_queue):
        yield


def events(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM events ORDER BY position").fetchall()


def _refusal(error: WorkflowFailureError) -> ApplicationError:
    assert isinstance(error.cause, ActivityError)
    assert isinstance(error.cause.cause, ApplicationError)
    return error.cause.cause


async def run(env: WorkflowEnvironment, queue: str, name: str, cmd: Any) -> CommandResult:
    result: CommandResult = await env.client.execute_workflow(
        name, cmd, id=f"{name}-{uuid.uuid4()}", task_queue=queue, result_type=CommandResult
    )
    return result


async def test_a_contact_command_records_its_workflow_and_activity_on_the_event(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None, database_url: str
) -> None:
    contact_id = str(uuid.uuid4())
    workflow_id = f"contact-create-{contact_id}"
    handle = await temporal_env.client.start_workflow(
        CONTACT_COMMAND_WORKFLOW,
        CreateContact(meta=META, contact_id=contact_id, first_name="Ada", email="ada@example.com"),
        id=workflow_id,
        task_queue=task_queue,
        result_type=CommandResult,
    )
    result = await handle.result()

    (row,) = events(database_url)
    assert result.id == contact_id
    assert result.position == row["position"]
    assert str(row["originator_id"]) == contact_id
    assert row["event_type"] == "Contact.Created"
    assert row["workflow_id"] == workflow_id
    assert row["workflow_run_id"] == handle.result_run_id
    assert row["workflow_type"] == CONTACT_COMMAND_WORKFLOW
    assert row["activity_id"] == "1"
    assert row["command_id"] == f"{workflow_id}/1"
    assert (row["org_id"], row["actor"], row["correlation_id"], row["causation_id"]) == (
        "org_a",
        "user:42",
        "corr-1",
        "req-1",
    )


async def test_a_task_assigned_as_done_and_then_updated(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None, database_url: str
) -> None:
    task_id = str(uuid.uuid4())
    created = await run(
        temporal_env,
        task_queue,
        TASK_COMMAND_WORKFLOW,
        AssignTask(
            meta=META,
            task_id=task_id,
            title="Call Ada",
            assigned_to="role:hr",
            due_date=datetime(2026, 12, 1, 9, tzinfo=UTC),
            status="in_progress",
        ),
    )
    await run(
        temporal_env,
        task_queue,
        TASK_COMMAND_WORKFLOW,
        UpdateTask(meta=META, task_id=task_id, changes=TaskChanges(priority="high")),
    )

    rows = events(database_url)
    assert [r["event_type"] for r in rows] == [
        "Task.Assigned",
        "Task.StatusChanged",
        "Task.Updated",
    ]
    assert created.position == rows[1]["position"]
    assert rows[1]["causation_id"] == rows[0]["command_id"]
    assert rows[0]["data"]["due_date"].startswith("2026-12-01T09:00:00")


async def test_a_refusal_fails_the_command_at_once_with_its_reason(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None, database_url: str
) -> None:
    task_id = str(uuid.uuid4())
    assign = AssignTask(
        meta=META, task_id=task_id, title="x", assigned_to="user:1", status="cancelled"
    )
    await run(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, assign)
    complete = CompleteTask(meta=META, task_id=task_id)

    with pytest.raises(WorkflowFailureError) as failed:
        await run(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, complete)

    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    refusal = activity_error.cause
    assert isinstance(refusal, ApplicationError)
    assert refusal.type == "InvalidTransition"
    assert refusal.non_retryable
    assert "cancelled" in refusal.details[0]["message"]
    assert activity_error.retry_state is not None
    assert activity_error.retry_state.name == "NON_RETRYABLE_FAILURE"
    assert len(events(database_url)) == 2


async def test_an_invalid_definition_fails_with_every_problem(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None
) -> None:
    body = {"name": "", "steps": [{"id": "s1", "type": "teleport", "name": "x", "config": {}}]}
    with pytest.raises(WorkflowFailureError) as failed:
        await run(
            temporal_env,
            task_queue,
            DEFINITION_COMMAND_WORKFLOW,
            CreateDefinition(meta=META, definition_id=str(uuid.uuid4()), body=body),
        )
    refusal = _refusal(failed.value)
    assert refusal.type == "DefinitionInvalid"
    fields = {p["field"] for p in refusal.details[0]["problems"]}
    assert {"name", "steps[0].type"} <= fields


async def test_a_command_for_another_orgs_contact_is_not_found(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None
) -> None:
    contact_id = str(uuid.uuid4())
    create = CreateContact(meta=META, contact_id=contact_id, first_name="Ada")
    await run(temporal_env, task_queue, CONTACT_COMMAND_WORKFLOW, create)
    other = META.model_copy(update={"org_id": "org_b"})
    update = UpdateContact(meta=other, contact_id=contact_id, changes=ContactChanges(phone="1"))
    with pytest.raises(WorkflowFailureError) as failed:
        await run(temporal_env, task_queue, CONTACT_COMMAND_WORKFLOW, update)
    refusal = _refusal(failed.value)
    assert refusal.type == "NotFound"


async def test_an_activity_run_twice_appends_its_events_once(
    services: Services, database_url: str
) -> None:
    """What Temporal does when an attempt's completion is lost: the same activity runs again."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id="contact-create-x", workflow_run_id="run-1", activity_id="1"
    )
    activities = CommandActivities(CommandHandlers(services))
    cmd = CreateContact(meta=META, contact_id=str(uuid.uuid4()), first_name="Ada")

    first = env.run(activities.contact_command, cmd)
    second = env.run(activities.contact_command, cmd)

    assert first == second
    assert len(events(database_url)) == 1


async def test_an_admin_action_is_recorded_as_an_event_naming_who_did_what(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None, database_url: str
) -> None:
    cmd = AdminCommand(
        meta=META, action="skip_parked", target="contacts", parameters={"position": 42}
    )
    result = await run(temporal_env, task_queue, ADMIN_COMMAND_WORKFLOW, cmd)

    (row,) = events(database_url)
    assert str(row["originator_id"]) == result.id
    assert (row["aggregate_type"], row["event_type"]) == ("admin_action", "AdminAction.Performed")
    assert row["data"]["action"] == "skip_parked"
    assert row["data"]["parameters"] == {"position": 42}
    assert row["actor"] == "user:42"
    with pytest.raises(WorkflowFailureError) as refused:
        await run(
            temporal_env,
            task_queue,
            ADMIN_COMMAND_WORKFLOW,
            AdminCommand(meta=META, action="drop_database", target="contacts"),
        )
    assert _refusal(refused.value).type == "InvalidValue"


async def test_a_patch_changes_only_the_fields_it_set_even_after_the_trip_through_temporal(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None, database_url: str
) -> None:
    task_id = str(uuid.uuid4())
    due = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assign = AssignTask(
        meta=META, task_id=task_id, title="Call Ada", assigned_to="role:hr", due_date=due
    )
    await run(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, assign)

    # title set, due_date explicitly cleared, description and priority left alone
    patch = task_patch(META, task_id, {"title": "Call Ada back", "due_date": None})
    assert isinstance(patch, UpdateTask)
    await run(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, patch)

    rows = events(database_url)
    assert [r["event_type"] for r in rows] == [
        "Task.Assigned",
        "Task.Updated",
        "Task.DueDateSet",
    ]
    assert set(rows[1]["data"]["changes"]) == {"title"}
    assert rows[2]["data"]["new_due_date"] is None


async def test_a_command_in_the_shape_recorded_before_intents_still_runs(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None, database_url: str
) -> None:
    """Workflows started by an older API (and recorded histories) carry ``action`` and
    ``changes``; the worker still decodes and runs them."""
    task_id = str(uuid.uuid4())
    assign = TaskCommand(
        meta=META,
        action="assign",
        task_id=task_id,
        changes={"title": "x", "assigned_to": "user:1", "due_date": "2026-12-01T09:00:00+00:00"},
    )
    await run(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, assign)
    complete = TaskCommand(meta=META, action="update", task_id=task_id, changes={"status": "done"})
    await run(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, complete)
    bad = TaskCommand(meta=META, action="update", task_id=task_id, changes={"colour": "red"})
    with pytest.raises(WorkflowFailureError) as failed:
        await run(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, bad)

    rows = events(database_url)
    assert [r["event_type"] for r in rows] == ["Task.Assigned", "Task.StatusChanged"]
    assert rows[1]["data"]["new_status"] == "done"
    refusal = _refusal(failed.value)
    assert (refusal.type, refusal.details[0]["field"]) == ("InvalidValue", "colour")
    old_contact = ContactCommand(
        meta=META, action="create", contact_id=str(uuid.uuid4()), changes={"first_name": "Ada"}
    )
    created = await run(temporal_env, task_queue, CONTACT_COMMAND_WORKFLOW, old_contact)
    assert created.id == old_contact.contact_id


def test_a_patch_becomes_the_narrowest_intent_that_says_what_it_changes() -> None:
    due = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert isinstance(task_patch(META, "t", {"status": "done", "metadata": {}}), CompleteTask)
    status = task_patch(META, "t", {"status": "in_progress"})
    assert isinstance(status, ChangeTaskStatus) and status.status == "in_progress"
    assert isinstance(task_patch(META, "t", {"assigned_to": "user:2"}), ReassignTask)
    assert isinstance(task_patch(META, "t", {"due_date": due}), SetTaskDueDate)
    several = task_patch(META, "t", {"status": "done", "priority": "high"})
    assert isinstance(several, UpdateTask)
    assert several.changes.set_fields() == {"status": "done", "priority": "high"}
