"""The execution service: what the generic workflow interpreter records as it runs a definition.

Its commands are the interpreter's step commands (execution_steps.py): each records a step
together with its effect in one save, which is the only way an execution's events are written.
The interpreter's activities call them with a command id derived from the workflow id and step,
so a retried activity records nothing twice.
"""

from __future__ import annotations

from uuid import UUID

from application.metadata import CommandContext
from application.services.execution_steps import ExecutionStepCommands
from domain.execution import WorkflowExecution


class ExecutionService(ExecutionStepCommands):
    """The interpreter's step commands, and the aggregate as the engine's tests inspect it."""

    def get_execution(self, ctx: CommandContext, execution_id: UUID) -> WorkflowExecution:
        return self._read(WorkflowExecution, "execution", execution_id, ctx)
