"""A clock tests can move, command contexts, and one onboarding story written through services.

Events are appended through the same step commands the execution workflow's activities call,
with the metadata those activities stamp on them, so the auditors' queries are tested against
rows exactly as production writes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from application.bundle import Services
from application.metadata import CommandContext
from application.services import ContactDraft, TaskDraft
from domain.execution import COMPLETED
from domain.steps import StepRef, Wait

MONDAY = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)

ONBOARDING_DEFINITION = {
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
    ],
}


class Clock:
    """The services' clock: each call returns `now`, then moves it on by `step`."""

    def __init__(self, start: datetime = MONDAY, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.step
        return now


def ctx(org: str = "org_a", **fields: str | None) -> CommandContext:
    """A command issued by a person through the API (no workflow)."""
    return CommandContext.new(org, **{"actor": "user:alice", "source": "api", **fields})


def activity(
    org: str,
    workflow_id: str,
    workflow_type: str,
    *,
    run_id: str = "run-1",
    activity_id: str | None = None,
    correlation_id: str | None = None,
    actor: str | None = "user:alice",
) -> CommandContext:
    """A command issued by a Temporal activity: it names its workflow, run and activity."""
    return CommandContext(
        org_id=org,
        command_id=f"{workflow_id}/{uuid.uuid4().hex[:8]}",
        actor=actor,
        source="worker",
        correlation_id=correlation_id,
        workflow_id=workflow_id,
        workflow_run_id=run_id,
        workflow_type=workflow_type,
        activity_id=activity_id or uuid.uuid4().hex[:6],
    )


@dataclass(frozen=True)
class Story:
    contact_id: UUID
    execution_id: UUID
    task_id: UUID
    loose_task_id: UUID
    execution_workflow: str
    contact_workflow: str
    task_workflow: str


def begin_form_execution(
    services: Services,
    ctx: CommandContext,
    execution_id: UUID,
    contact_id: UUID,
    definition_id: str,
) -> None:
    """An execution of version 1 of `definition_id` for the contact, begun by a form submission
    (its trigger step recorded), as the engine's first activity begins one."""
    services.executions.begin(
        ctx,
        execution_id,
        definition_id=definition_id,
        definition_version=1,
        workflow_id=f"execution-{execution_id}",
        workflow_run_id="run-1",
        contact_id=str(contact_id),
        input={},
        trigger={"type": "form_submission"},
        trigger_step=StepRef("step_1", "trigger", "Form Submitted"),
        trigger_output={},
    )


def onboarding(services: Services, org: str = "org_a") -> Story:
    """An applicant is created, an execution reviews them through a task, and completes.

    Also a task filed against the contact by hand (no execution), and a task of another contact
    that must not show up in this contact's lineage.
    """
    contact_workflow = f"contact-{uuid.uuid4().hex[:8]}"
    contact_id = services.contacts.create_contact(
        activity(org, contact_workflow, "ContactCommandWorkflow", correlation_id="req-1"),
        ContactDraft(first_name="Ada", last_name="Lovelace", email="ada@example.com"),
    )
    execution_id = uuid.uuid4()
    workflow = f"execution-{execution_id}"

    def step(activity_id: str) -> CommandContext:
        return activity(
            org, workflow, "ExecutionWorkflow", activity_id=activity_id, correlation_id="req-2"
        )

    executions = services.executions
    begin_form_execution(services, step("s1"), execution_id, contact_id, "def-onboarding")
    assigned = executions.assign_task_step(
        step("s2"),
        execution_id,
        StepRef("step_2", "assign_task", "Review"),
        TaskDraft(title="Review Ada", assigned_to="role:admin", contact_id=str(contact_id)),
    )
    task_id = UUID(assigned["task"]["id"])
    wait_step = StepRef("step_3", "wait_for_task", "Wait")
    executions.record_step(step("s3w"), execution_id, wait_step, wait=Wait("task"))
    task_workflow = f"task-{uuid.uuid4().hex[:8]}"
    services.tasks.change_task_status(
        activity(org, task_workflow, "TaskCommandWorkflow", actor="user:bob"),
        task_id,
        "done",
        {"outcome": "approved"},
    )
    executions.record_step(step("s3c"), execution_id, wait_step, output={"outcome": "approved"})
    executions.update_status_step(
        step("s4"), execution_id, StepRef("step_4", "update_status", "Approved"), "approved"
    )
    executions.finish(step("done"), execution_id, COMPLETED)
    loose_task_id = services.tasks.assign_task(
        ctx(org), TaskDraft(title="Call Ada", assigned_to="user:bob", contact_id=str(contact_id))
    )
    other = services.contacts.create_contact(ctx(org), ContactDraft(first_name="Grace"))
    services.tasks.assign_task(
        ctx(org), TaskDraft(title="Call Grace", assigned_to="user:bob", contact_id=str(other))
    )
    return Story(
        contact_id=contact_id,
        execution_id=execution_id,
        task_id=task_id,
        loose_task_id=loose_task_id,
        execution_workflow=workflow,
        contact_workflow=contact_workflow,
        task_workflow=task_workflow,
    )
