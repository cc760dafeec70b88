from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from application.bundle import Services, build_services
from application.errors import NotFoundError
from application.metadata import CommandContext
from application.services import ContactDraft, TaskDraft
from domain.errors import DefinitionInvalidError, InvalidTransitionError, InvalidValueError
from domain.steps import StepRef, Wait
from projections.audit import aggregate_state
from projections.personal import KEY_COLUMNS, KEY_JOIN, reveal_item


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url)
    yield built
    built.close()


def ctx(command_id: str, org: str = "org_a", **fields: str) -> CommandContext:
    return CommandContext(org_id=org, command_id=command_id, actor="user:1", **fields)


def events(url: str, aggregate_id: UUID | None = None) -> list[dict[str, Any]]:
    """The rows of `events`, `data` with its personal attributes opened (projections/personal)."""
    query = f"SELECT events.*, {KEY_COLUMNS} FROM events{KEY_JOIN}"
    with psycopg.connect(url, row_factory=dict_row) as conn:
        if aggregate_id is None:
            rows = conn.execute(f"{query} ORDER BY position").fetchall()
        else:
            rows = conn.execute(
                f"{query} WHERE originator_id = %s ORDER BY position", (aggregate_id,)
            ).fetchall()
    return [{**row, "data": reveal_item(row)} for row in rows]


ONBOARDING: dict[str, Any] = {
    "name": "Applicant Onboarding",
    "statuses": [{"id": "approved", "label": "Approved", "color": "green"}],
    "steps": [
        {
            "id": "step_1",
            "type": "trigger",
            "name": "Form Submitted",
            "config": {"type": "form_submission", "contact": {"email": "{{payload.email}}"}},
        },
        {
            "id": "step_2",
            "type": "assign_task",
            "name": "Review",
            "config": {"title": "Review {{contact.first_name}}", "assign_to": "role:admin"},
        },
        {
            "id": "step_3",
            "type": "wait_for_task",
            "name": "Wait",
            "config": {"task_from_step": "step_2", "timeout_days": 7, "on_timeout": "fail"},
        },
        {
            "id": "step_4",
            "type": "update_status",
            "name": "Approve",
            "config": {"status": "approved"},
        },
    ],
}


def test_a_contact_patch_records_what_changed_and_its_status_in_one_command(
    services: Services, database_url: str
) -> None:
    contact_id = services.contacts.create_contact(
        ctx("c1"), ContactDraft(first_name="Ada", email="ada@example.com")
    )
    services.contacts.update_contact(
        ctx("c2"), contact_id, {"email": "ada@lovelace.org", "first_name": "Ada", "status": "hired"}
    )

    rows = events(database_url, contact_id)
    assert [r["event_type"] for r in rows] == [
        "Contact.Created",
        "Contact.FieldsUpdated",
        "Contact.StatusChanged",
    ]
    assert rows[1]["data"]["changes"] == {
        "email": {"old": "ada@example.com", "new": "ada@lovelace.org"}
    }
    assert rows[2]["data"]["new_status"] == "hired"
    assert {r["command_id"] for r in rows[1:]} == {"c2"}
    contact = services.contacts.get_contact(ctx("read"), contact_id)
    assert (contact.email, contact.status) == ("ada@lovelace.org", "hired")


def test_a_refused_command_appends_nothing(services: Services, database_url: str) -> None:
    task_id = services.tasks.assign_task(
        ctx("t1"), TaskDraft(title="Call Ada", assigned_to="user:7")
    )
    services.tasks.change_task_status(ctx("t2"), task_id, "cancelled")

    with pytest.raises(InvalidTransitionError, match="cancelled"):
        services.tasks.change_task_status(ctx("t3"), task_id, "done")
    with pytest.raises(InvalidValueError):
        services.tasks.assign_task(ctx("t4"), TaskDraft(title="x", assigned_to="nobody"))

    assert [r["event_type"] for r in events(database_url)] == [
        "Task.Assigned",
        "Task.StatusChanged",
    ]


def test_a_retried_completion_neither_fails_nor_appends(
    services: Services, database_url: str
) -> None:
    """Temporal retries an activity whose first attempt committed but whose reply was lost."""
    task_id = services.tasks.assign_task(
        ctx("t1"), TaskDraft(title="Review", assigned_to="role:hr")
    )
    first = services.tasks.change_task_status(
        ctx("wf-1/step_3"), task_id, "done", {"outcome": "ok"}
    )
    again = services.tasks.change_task_status(
        ctx("wf-1/step_3"), task_id, "done", {"outcome": "ok"}
    )

    assert first == again == task_id
    assert [r["event_type"] for r in events(database_url)] == [
        "Task.Assigned",
        "Task.StatusChanged",
    ]
    task = services.tasks.get_task(ctx("read"), task_id)
    assert task.status == "done"
    assert task.metadata == {"outcome": "ok"}


def test_a_task_patch_applies_every_field_in_one_command(
    services: Services, database_url: str
) -> None:
    task_id = services.tasks.assign_task(
        ctx("t1"), TaskDraft(title="Review", assigned_to="role:hr")
    )
    due = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    services.tasks.update_task(
        ctx("t2"),
        task_id,
        {"title": "Review CV", "priority": "high", "assigned_to": "user:9", "due_date": due},
    )

    task = services.tasks.get_task(ctx("read"), task_id)
    assert (task.title, task.priority, task.assigned_to, task.due_date) == (
        "Review CV",
        "high",
        "user:9",
        due,
    )
    assert [r["event_type"] for r in events(database_url)][1:] == [
        "Task.Updated",
        "Task.Reassigned",
        "Task.DueDateSet",
    ]


def test_commands_on_another_orgs_aggregates_are_not_found(services: Services) -> None:
    contact_id = services.contacts.create_contact(ctx("c1"), ContactDraft(first_name="Ada"))
    with pytest.raises(NotFoundError):
        services.contacts.update_contact(ctx("c2", org="org_b"), contact_id, {"phone": "1"})
    with pytest.raises(NotFoundError):
        services.tasks.change_task_status(ctx("c3", org="org_b"), contact_id, "done")


def test_an_invalid_definition_is_refused_with_every_problem(services: Services) -> None:
    body = {
        "name": "Broken",
        "steps": [
            {"id": "s1", "type": "trigger", "name": "t", "config": {"type": "manual"}},
            {"id": "s2", "type": "teleport", "name": "?", "config": {}},
            {
                "id": "s3",
                "type": "condition",
                "name": "c",
                "config": {
                    "field": "{{nowhere.x}}",
                    "branches": [{"if": "a", "then_goto": "s9"}],
                },
            },
        ],
    }
    with pytest.raises(DefinitionInvalidError) as refused:
        services.definitions.create_definition(ctx("d1"), body)
    fields = {p.field for p in refused.value.problems}
    assert "steps[1].type" in fields
    assert any("then_goto" in f for f in fields)
    assert any(
        "field" in f and p.step_id == "s3" for p in refused.value.problems for f in [p.field]
    )


def test_definition_versions_and_activation(services: Services, database_url: str) -> None:
    definition_id = services.definitions.create_definition(ctx("d1"), ONBOARDING)
    services.definitions.publish_version(ctx("d2"), definition_id, {**ONBOARDING, "name": "v2"})
    services.definitions.activate(ctx("d3"), definition_id)
    services.definitions.activate(ctx("d4"), definition_id)

    definition = services.definitions.get_definition(ctx("read"), definition_id)
    assert definition.current_version == 2
    assert definition.is_active
    assert definition.get_version(1)["name"] == "Applicant Onboarding"
    assert [r["event_type"] for r in events(database_url)] == [
        "WorkflowDefinition.Created",
        "WorkflowDefinition.VersionPublished",
        "WorkflowDefinition.VersionPublished",
        "WorkflowDefinition.Activated",
    ]


def test_an_execution_records_each_step_with_its_effect_and_once_per_command(
    services: Services, database_url: str
) -> None:
    """The step commands as the execution workflow's activities call them."""
    wf = {"workflow_id": "exec-1", "workflow_type": "ExecutionWorkflow"}
    executions = services.executions
    execution_id = UUID("00000000-0000-4000-8000-00000000e1e1")
    executions.begin(
        ctx("exec-1/begin", **wf),
        execution_id,
        definition_id="def-1",
        definition_version=1,
        workflow_id="exec-1",
        workflow_run_id="run-1",
        contact_id=None,
        input={"source": "form"},
        trigger={"type": "form_submission"},
        trigger_step=StepRef("step_1", "trigger", "Form Submitted"),
        trigger_output={},
    )
    review = StepRef("step_2", "assign_task", "Review")
    draft = TaskDraft(title="Review", assigned_to="role:admin")
    assigned = executions.assign_task_step(ctx("exec-1/step_2", **wf), execution_id, review, draft)
    wait = StepRef("step_3", "wait_for_task", "Wait")
    until = datetime.now(UTC) + timedelta(days=7)
    executions.record_step(
        ctx("exec-1/step_3", **wf), execution_id, wait, wait=Wait("task", until=until)
    )
    waiting_version = len(events(database_url, execution_id))

    # Temporal retries an activity whose first attempt committed but whose reply was lost.
    again = executions.assign_task_step(ctx("exec-1/step_2", **wf), execution_id, review, draft)
    assert again == assigned
    assert len(events(database_url, execution_id)) == waiting_version

    executions.record_step(ctx("exec-1/step_3c", **wf), execution_id, wait, output={"ok": 1})
    approved = StepRef("step_4", "update_status", "Approved")
    changed = executions.update_status_step(
        ctx("exec-1/step_4", **wf), execution_id, approved, "approved"
    )
    assert changed == {"ui_status": "approved", "previous": None}

    task_id = UUID(assigned["task"]["id"])
    with psycopg.connect(database_url) as conn:
        task = aggregate_state(conn, "org_a", "task", task_id)
        waiting = aggregate_state(
            conn, "org_a", "workflow_execution", execution_id, version=waiting_version
        )
        now = aggregate_state(conn, "org_a", "workflow_execution", execution_id)
    assert task is not None
    assert (task["execution_id"], task["step_id"]) == (str(execution_id), "step_2")
    assert waiting is not None
    assert (waiting["status"], waiting["current_step_id"]) == ("waiting", "step_3")
    assert now is not None
    assert (now["status"], now["ui_status"]) == ("running", "approved")
    assert [(s["step_id"], s["status"]) for s in now["step_history"]] == [
        ("step_1", "completed"),
        ("step_2", "completed"),
        ("step_3", "completed"),
        ("step_4", "completed"),
    ]
    rows = events(database_url)
    assert {r["workflow_id"] for r in rows} == {"exec-1"}
    # The task is recorded with the step that assigns it, right after it in the stream.
    types = [r["event_type"] for r in rows]
    at = types.index("Task.Assigned")
    assert types[at - 2 : at + 1] == [
        "WorkflowExecution.StepStarted",
        "WorkflowExecution.StepCompleted",
        "Task.Assigned",
    ]
