"""The secret command workflow: one activity that records a secret's change and stores its
value (sealed on its way here: worker/secret_contracts.py), with the command workflows' timeout
and retry policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from worker.activities.secrets import SecretActivities
    from worker.contracts import CommandResult
    from worker.secret_contracts import SECRET_COMMAND_WORKFLOW, SecretCommand
    from worker.workflows.commands import COMMAND_RETRY, COMMAND_TIMEOUT, COMMAND_WINDOW


@workflow.defn(name=SECRET_COMMAND_WORKFLOW)
class SecretCommandWorkflow:
    @workflow.run
    async def run(self, cmd: SecretCommand) -> CommandResult:
        return await workflow.execute_activity_method(
            SecretActivities.secret_command,
            cmd,
            start_to_close_timeout=COMMAND_TIMEOUT,
            schedule_to_close_timeout=COMMAND_WINDOW,
            retry_policy=COMMAND_RETRY,
        )
