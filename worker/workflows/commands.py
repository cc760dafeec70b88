"""Command workflows: one short workflow per HTTP command on a contact, task or definition.

Why a workflow for a one-step command: every business write goes through Temporal (one path for
data, one place for retries and history), and the workflow id is the command's idempotency key.
Activities are called by name so this module imports no application code into the sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from worker.contracts import (
        CONTACT_COMMAND_WORKFLOW,
        DEFINITION_COMMAND_WORKFLOW,
        REFUSAL_TYPES,
        TASK_COMMAND_WORKFLOW,
        CommandResult,
        ContactCommand,
        DefinitionCommand,
        TaskCommand,
    )

# Transient failures (a dropped connection, a lock timeout) retry with backoff; refusals are
# raised non-retryable by the activities and fail the workflow at once.
COMMAND_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
    non_retryable_error_types=REFUSAL_TYPES,
)
COMMAND_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name=CONTACT_COMMAND_WORKFLOW)
class ContactCommandWorkflow:
    @workflow.run
    async def run(self, cmd: ContactCommand) -> CommandResult:
        result: CommandResult = await workflow.execute_activity(
            "contact_command",
            cmd,
            result_type=CommandResult,
            start_to_close_timeout=COMMAND_TIMEOUT,
            retry_policy=COMMAND_RETRY,
        )
        return result


@workflow.defn(name=TASK_COMMAND_WORKFLOW)
class TaskCommandWorkflow:
    @workflow.run
    async def run(self, cmd: TaskCommand) -> CommandResult:
        result: CommandResult = await workflow.execute_activity(
            "task_command",
            cmd,
            result_type=CommandResult,
            start_to_close_timeout=COMMAND_TIMEOUT,
            retry_policy=COMMAND_RETRY,
        )
        return result


@workflow.defn(name=DEFINITION_COMMAND_WORKFLOW)
class DefinitionCommandWorkflow:
    @workflow.run
    async def run(self, cmd: DefinitionCommand) -> CommandResult:
        result: CommandResult = await workflow.execute_activity(
            "definition_command",
            cmd,
            result_type=CommandResult,
            start_to_close_timeout=COMMAND_TIMEOUT,
            retry_policy=COMMAND_RETRY,
        )
        return result


COMMAND_WORKFLOWS = [ContactCommandWorkflow, TaskCommandWorkflow, DefinitionCommandWorkflow]
