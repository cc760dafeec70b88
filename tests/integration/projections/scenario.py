"""One realistic onboarding story across all four aggregates, used by several tests.

An applicant submits a form: a contact is created, an execution of the onboarding definition
starts, assigns a review task to the admins, waits, sends a reminder, the reviewer approves,
the execution sets its ui status, emails the applicant and completes. Meanwhile the definition
gets a second version, and a second execution is cancelled while waiting for a signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tests.integration.projections.eventlog import EventLog


@dataclass(frozen=True)
class Onboarding:
    contact_id: UUID
    definition_id: UUID
    execution_id: UUID
    cancelled_execution_id: UUID
    task_id: UUID


def onboarding(log: EventLog) -> Onboarding:
    definition_id = log.definition(name="Applicant Onboarding")
    log.add(definition_id, "WorkflowDefinition.Activated", version=1)

    contact_id = log.contact(first_name="Ada", last_name="Lovelace", status="applicant")
    execution_id = log.execution(definition_id=definition_id, contact_id=contact_id)
    log.add(execution_id, "WorkflowExecution.Started", workflow_run_id="run-1")
    step = "WorkflowExecution.StepStarted"
    log.add(execution_id, step, step_id="step_1", step_type="trigger", step_name="Form Submitted")
    log.add(execution_id, "WorkflowExecution.StepCompleted", step_id="step_1", output={})
    log.add(
        execution_id, step, step_id="step_2", step_type="assign_task", step_name="Assign Review"
    )
    task_id = log.task(
        title="Review Ada's Application",
        assigned_to="role:admin",
        priority="medium",
        due_date="2024-05-04T09:00:00+00:00",
        execution_id=str(execution_id),
        step_id="step_2",
        contact_id=str(contact_id),
    )
    log.add(
        execution_id,
        "WorkflowExecution.StepCompleted",
        step_id="step_2",
        output={"task": {"id": str(task_id)}},
    )
    log.add(
        execution_id, step, step_id="step_3", step_type="wait_for_task", step_name="Wait for Review"
    )
    log.add(
        execution_id,
        "WorkflowExecution.Waiting",
        step_id="step_3",
        waiting_for="task",
        until="2024-05-08T09:00:00+00:00",
        detail={"task_id": str(task_id)},
    )
    log.add(
        execution_id,
        "WorkflowExecution.ReminderSent",
        step_id="step_3",
        task_id=str(task_id),
        recipient="role:admin",
        count=1,
        message="Reminder: review Ada",
    )
    log.add(task_id, "Task.Reassigned", old_assigned_to="role:admin", new_assigned_to="user:u7")
    log.add(
        task_id,
        "Task.StatusChanged",
        old_status="todo",
        new_status="done",
        metadata={"outcome": "approved"},
        completed_at="2024-05-02T10:00:00+00:00",
    )
    log.add(
        execution_id,
        "WorkflowExecution.StepCompleted",
        step_id="step_3",
        output={"task": {"metadata": {"outcome": "approved"}}},
    )
    log.add(execution_id, step, step_id="step_4", step_type="update_status", step_name="Approve")
    log.add(
        execution_id,
        "WorkflowExecution.UiStatusChanged",
        step_id="step_4",
        old_ui_status=None,
        new_ui_status="approved",
    )
    log.add(execution_id, "WorkflowExecution.StepCompleted", step_id="step_4", output={})
    log.add(execution_id, step, step_id="step_5", step_type="send_email", step_name="Welcome")
    log.add(
        execution_id,
        "WorkflowExecution.EmailSent",
        step_id="step_5",
        to="ada@example.com",
        subject="Welcome aboard",
        delivered=True,
        message_id="<m1@bytedash>",
        error=None,
    )
    log.add(execution_id, "WorkflowExecution.StepCompleted", step_id="step_5", output={})
    log.add(execution_id, "WorkflowExecution.Completed", output={"approved": True})
    log.add(contact_id, "Contact.StatusChanged", old_status="applicant", new_status="active")
    log.add(
        contact_id,
        "Contact.FieldsUpdated",
        changes={"fields": {"old": {}, "new": {"cohort": "2024-05"}}},
    )

    log.publish(definition_id, version=2, name="Applicant Onboarding v2")

    cancelled_id = log.execution(definition_id=definition_id, contact_id=contact_id)
    log.add(cancelled_id, "WorkflowExecution.Started", workflow_run_id="run-2")
    log.add(cancelled_id, step, step_id="step_9", step_type="wait_for_signal", step_name="Docs")
    log.add(
        cancelled_id,
        "WorkflowExecution.Waiting",
        step_id="step_9",
        waiting_for="signal",
        until=None,
        detail={"signal": "documents"},
    )
    log.add(cancelled_id, "WorkflowExecution.Cancelled", reason="withdrawn", cancelled_by="user:u7")
    return Onboarding(contact_id, definition_id, execution_id, cancelled_id, task_id)
