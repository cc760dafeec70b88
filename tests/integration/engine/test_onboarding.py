"""The applicant onboarding of the README, end to end at the worker level.

Form payload → contact created → review task → the reviewer marks it done with an outcome (the
real PATCH path: TaskCommandWorkflow) → condition → update_status → email over SMTP → done.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.metadata import CommandContext
from domain.definition_validation import parse_definition
from tests.integration.engine.servers import Mailbox
from tests.integration.engine.support import (
    change_task,
    event_types,
    events,
    start,
    waiting_at,
)

CTX = CommandContext(org_id="org_e", command_id="reader")

# Its own copy of the onboarding rather than domain.definition_library.APPLICANT_ONBOARDING: this
# pins the exact event sequence and step ids, which must not move when the library is edited
# (the library version is run end to end by tests/integration/api/test_onboarding_over_http.py).
ONBOARDING: dict[str, Any] = {
    "name": "Applicant Onboarding",
    "description": "Review an application and welcome or decline the applicant.",
    "statuses": [
        {"id": "in_review", "label": "In review", "color": "yellow"},
        {"id": "approved", "label": "Approved", "color": "green"},
        {"id": "rejected", "label": "Rejected", "color": "red"},
    ],
    "steps": [
        {
            "id": "step_1",
            "type": "trigger",
            "name": "Form Submitted",
            "config": {
                "type": "form_submission",
                "contact": {
                    "first_name": "{{payload.first_name}}",
                    "last_name": "{{payload.last_name}}",
                    "email": "{{payload.email}}",
                },
            },
        },
        {
            "id": "step_2",
            "type": "assign_task",
            "name": "Assign Review Task",
            "config": {
                "title": "Review {{contact.first_name}}'s Application",
                "description": "Review submitted application and approve/reject",
                "assign_to": "role:admin",
                "priority": "medium",
                "due_date": "{{now + 3 days}}",
            },
        },
        {
            "id": "step_2b",
            "type": "update_status",
            "name": "In Review",
            "config": {"status": "in_review"},
        },
        {
            "id": "step_3",
            "type": "wait_for_task",
            "name": "Wait for Review",
            "config": {
                "task_from_step": "step_2",
                "timeout_days": 7,
                "on_timeout": "send_reminder",
            },
        },
        {
            "id": "step_4",
            "type": "condition",
            "name": "Check Review Outcome",
            "config": {
                "field": "{{step_3.task.metadata.outcome}}",
                "branches": [
                    {"if": "approved", "then_goto": "step_5"},
                    {"if": "rejected", "then_goto": "step_8"},
                ],
                "default": "step_5",
            },
        },
        {
            "id": "step_5",
            "type": "update_status",
            "name": "Mark as Approved",
            "config": {"status": "approved"},
        },
        {
            "id": "step_6",
            "type": "send_email",
            "name": "Send Welcome Email",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Welcome aboard, {{contact.first_name}}!",
                "body": "Dear {{contact.first_name}} {{contact.last_name}}, you are approved.",
            },
            "next": "end",
        },
        {
            "id": "step_8",
            "type": "update_status",
            "name": "Mark as Rejected",
            "config": {"status": "rejected"},
        },
        {
            "id": "step_9",
            "type": "send_email",
            "name": "Send Rejection Email",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Your application",
                "body": "Dear {{contact.first_name}}, we are sorry.",
            },
        },
    ],
}

APPROVED_EVENTS = [
    "Created",
    "Started",
    "StepStarted(step_1)",
    "StepCompleted(step_1)",
    "StepStarted(step_2)",
    "StepCompleted(step_2)",
    "StepStarted(step_2b)",
    "UiStatusChanged(step_2b)",
    "StepCompleted(step_2b)",
    "StepStarted(step_3)",
    "Waiting(step_3)",
    "StepCompleted(step_3)",
    "StepStarted(step_4)",
    "StepCompleted(step_4)",
    "StepStarted(step_5)",
    "UiStatusChanged(step_5)",
    "StepCompleted(step_5)",
    "StepStarted(step_6)",
    "EmailSent(step_6)",
    "StepCompleted(step_6)",
    "Completed",
]


async def _run(
    temporal_env: WorkflowEnvironment, queue: str, outcome: str, email: str
) -> tuple[str, str]:
    body = parse_definition(ONBOARDING).to_dict()
    payload = {"first_name": "Ada", "last_name": "Lovelace", "email": email, "source": "form"}
    execution_id, handle = await start(
        temporal_env.client, queue, body, payload=payload, contact_from_trigger=True
    )
    state = await waiting_at(handle, "step_3")
    assert state.ui_status == "in_review"
    (task,) = state.tasks
    await change_task(
        temporal_env.client,
        queue,
        task.task_id,
        status="done",
        metadata={"outcome": outcome, "note": "looks good"},
    )
    result = await handle.result()
    assert result.status == "completed"
    return execution_id, task.task_id


async def test_an_approved_applicant_is_welcomed(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    mailbox: Mailbox,
) -> None:
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"

    execution_id, task_id = await _run(temporal_env, engine_queue, "approved", email)

    assert event_types(engine_db, execution_id) == APPROVED_EVENTS
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert (execution.status, execution.ui_status) == ("completed", "approved")
    assert execution.step_outputs["step_4"] == {
        "value": "approved",
        "branch": "step_5",
        "matched": 0,
    }
    contact = engine_services.contacts.get_contact(CTX, UUID(execution.contact_id))
    assert (contact.first_name, contact.last_name, contact.email) == ("Ada", "Lovelace", email)
    task = engine_services.tasks.get_task(CTX, UUID(task_id))
    assert task.title == "Review Ada's Application"
    assert (task.status, task.metadata["outcome"]) == ("done", "approved")
    assert (task.execution_id, task.step_id, task.contact_id) == (
        execution_id,
        "step_2",
        execution.contact_id,
    )
    (welcome,) = mailbox.to(email)
    assert welcome["Subject"] == "Welcome aboard, Ada!"
    assert "Dear Ada Lovelace, you are approved." in str(welcome.get_payload())
    # Every event of the run names the workflow that caused it.
    workflow_ids = {row["workflow_id"] for row in events(engine_db, execution_id)}
    assert workflow_ids == {f"execution-{execution_id}"}


async def test_a_rejected_applicant_gets_the_rejection(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    mailbox: Mailbox,
) -> None:
    email = f"bo-{uuid.uuid4().hex[:6]}@example.com"

    execution_id, _ = await _run(temporal_env, engine_queue, "rejected", email)

    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert execution.ui_status == "rejected"
    assert [e["step_id"] for e in execution.step_history][-3:] == ["step_4", "step_8", "step_9"]
    (letter,) = mailbox.to(email)
    assert letter["Subject"] == "Your application"
