"""Command workflows: one short workflow per HTTP command on a contact, task or definition.

Why a workflow for a one-step command: every business write goes through Temporal (one path for
data, one place for retries and history), and the workflow id is the command's idempotency key.
Activities are called by typed reference; their classes import no application code, so neither
does the sandbox.

Each workflow takes its aggregate's union of commands (`worker.commands`), which still decodes
the older ``action`` + ``changes`` shapes: histories recorded before the split schedule the same
activity with the same id, so they replay unchanged without a `workflow.patched` guard.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from worker.activities.commands import CommandActivities
    from worker.activities.schedules import ScheduleActivities
    from worker.commands import (
        ContactCommandInput,
        DefinitionCommandInput,
        TaskCommandInput,
        changes_schedule,
    )
    from worker.contracts import (
        ADMIN_COMMAND_WORKFLOW,
        CONTACT_COMMAND_WORKFLOW,
        DEFINITION_COMMAND_WORKFLOW,
        REFUSAL_TYPES,
        TASK_COMMAND_WORKFLOW,
        TASK_STATUS_CHANGED_SIGNAL,
        AdminCommand,
        CommandResult,
        ScheduleSync,
        TaskStatusChanged,
        execution_workflow_id,
    )

# Transient failures (a dropped connection, a lock timeout, a pool that cannot connect) retry
# with backoff for COMMAND_WINDOW: long enough to ride out a realistic Postgres outage (a
# restart or failover takes seconds to a minute or two; the ten attempts this replaced gave up
# after about 45 s), short enough that a command that cannot succeed (a bug) fails within
# minutes with its reason. A command that failed runs again when its client resends it with
# the same Idempotency-Key (interfaces/api/commands.py), appending nothing twice (its event ids
# derive from its workflow id). Refusals and data errors are raised non-retryable by the
# interceptor (worker/interceptors.py) and fail the workflow at once. docs/operations.md
# ("Retry windows") tells operators.
COMMAND_WINDOW = timedelta(minutes=5)
# Bounded by COMMAND_WINDOW (the schedule-to-close timeout of every command activity).
COMMAND_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=REFUSAL_TYPES,
)
COMMAND_TIMEOUT = timedelta(seconds=30)


C = TypeVar("C")


async def _run_command(
    activity: Callable[[CommandActivities, C], CommandResult], cmd: C
) -> CommandResult:
    """The one activity of a command workflow, with the shared timeout and retry policy."""
    return await workflow.execute_activity_method(
        activity,
        cmd,
        start_to_close_timeout=COMMAND_TIMEOUT,
        schedule_to_close_timeout=COMMAND_WINDOW,
        retry_policy=COMMAND_RETRY,
    )


@workflow.defn(name=CONTACT_COMMAND_WORKFLOW)
class ContactCommandWorkflow:
    @workflow.run
    async def run(self, cmd: ContactCommandInput) -> CommandResult:
        result = await _run_command(CommandActivities.contact_command, cmd)
        return result


@workflow.defn(name=TASK_COMMAND_WORKFLOW)
class TaskCommandWorkflow:
    """Changes a task; when the command set the status of a task that belongs to an execution,
    signals that execution (`task_status_changed`) from here, durably: the signal is a workflow
    command, so it is sent even if the worker dies right after the change, and only once."""

    @workflow.run
    async def run(self, cmd: TaskCommandInput) -> CommandResult:
        result = await _run_command(CommandActivities.task_command, cmd)
        change = result.task_status_changed
        if change is not None and workflow.patched(SIGNAL_EXECUTION_PATCH):
            await _signal_execution(change)
        return result


# Histories recorded before task commands signalled executions replay without the signal.
SIGNAL_EXECUTION_PATCH = "task-command-signals-execution"


async def _signal_execution(change: TaskStatusChanged) -> None:
    handle = workflow.get_external_workflow_handle(execution_workflow_id(change.execution_id))
    try:
        await handle.signal(TASK_STATUS_CHANGED_SIGNAL, change)
    except ApplicationError as error:
        # The execution has finished (or never existed): nobody is waiting for this news.
        workflow.logger.info(
            "execution not signalled",
            extra={"execution_id": change.execution_id, "error": error.message},
        )


@workflow.defn(name=DEFINITION_COMMAND_WORKFLOW)
class DefinitionCommandWorkflow:
    @workflow.run
    async def run(self, cmd: DefinitionCommandInput) -> CommandResult:
        result = await _run_command(CommandActivities.definition_command, cmd)
        # Activating, deactivating or publishing may start, change or stop a `schedule`
        # trigger: bring the definition's Temporal Schedule in line with what was recorded.
        if changes_schedule(cmd) and workflow.patched("definition-command-syncs-schedule"):
            await workflow.execute_activity_method(
                ScheduleActivities.sync_definition_schedule,
                ScheduleSync(org_id=cmd.meta.org_id, definition_id=cmd.definition_id),
                start_to_close_timeout=COMMAND_TIMEOUT,
                schedule_to_close_timeout=COMMAND_WINDOW,
                retry_policy=COMMAND_RETRY,
            )
        return result


@workflow.defn(name=ADMIN_COMMAND_WORKFLOW)
class AdminCommandWorkflow:
    @workflow.run
    async def run(self, cmd: AdminCommand) -> CommandResult:
        result = await _run_command(CommandActivities.admin_command, cmd)
        return result


COMMAND_WORKFLOWS = [
    ContactCommandWorkflow,
    TaskCommandWorkflow,
    DefinitionCommandWorkflow,
    AdminCommandWorkflow,
]
