"""Execution commands: what the generic workflow interpreter records as it runs a definition.

Every method here is one command on one ``WorkflowExecution``; the interpreter's step commands,
which also write the task or contact a step changes, come from execution_steps.py. The
interpreter's activities call them with a command id derived from the workflow id and step, so a
retried activity records nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from application.metadata import CommandContext
from application.services.base import Outcome, derived_id
from application.services.execution_steps import ExecutionStepCommands
from domain.execution import WorkflowExecution

Action = Callable[[WorkflowExecution, datetime], object]


class ExecutionService(ExecutionStepCommands):
    """The aggregate's plain commands, plus the interpreter's step commands (execution_steps)."""

    def create_execution(
        self,
        ctx: CommandContext,
        *,
        definition_id: str,
        definition_version: int,
        workflow_id: str,
        contact_id: str | None = None,
        input: Mapping[str, Any] | None = None,
        trigger: Mapping[str, Any] | None = None,
        execution_id: UUID | None = None,
    ) -> UUID:
        new_id = execution_id or derived_id("workflow_execution", ctx)

        def run(now: datetime) -> Outcome:
            execution = WorkflowExecution.create(
                execution_id=new_id,
                org_id=ctx.org_id,
                definition_id=definition_id,
                definition_version=definition_version,
                contact_id=contact_id,
                input=dict(input or {}),
                workflow_id=workflow_id,
                trigger=dict(trigger or {}),
                at=now,
            )
            return new_id, [execution]

        return self._execute(ctx, run)

    def _act(self, ctx: CommandContext, execution_id: UUID, action: Action) -> UUID:
        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            action(execution, now)
            return execution_id, [execution]

        return self._execute(ctx, run)

    def start(self, ctx: CommandContext, execution_id: UUID, workflow_run_id: str) -> UUID:
        return self._act(
            ctx, execution_id, lambda e, at: e.start(workflow_run_id=workflow_run_id, at=at)
        )

    def start_step(
        self, ctx: CommandContext, execution_id: UUID, step_id: str, step_type: str, name: str
    ) -> UUID:
        return self._act(
            ctx,
            execution_id,
            lambda e, at: e.start_step(step_id=step_id, step_type=step_type, step_name=name, at=at),
        )

    def complete_step(
        self, ctx: CommandContext, execution_id: UUID, step_id: str, output: Mapping[str, Any]
    ) -> UUID:
        return self._act(
            ctx,
            execution_id,
            lambda e, at: e.complete_step(step_id=step_id, output=dict(output), at=at),
        )

    def fail_step(self, ctx: CommandContext, execution_id: UUID, step_id: str, error: str) -> UUID:
        return self._act(
            ctx, execution_id, lambda e, at: e.fail_step(step_id=step_id, error=error, at=at)
        )

    def wait(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step_id: str,
        waiting_for: str,
        until: datetime | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> UUID:
        return self._act(
            ctx,
            execution_id,
            lambda e, at: e.wait(
                step_id=step_id,
                waiting_for=waiting_for,
                until=until,
                detail=dict(detail or {}),
                at=at,
            ),
        )

    def change_ui_status(
        self, ctx: CommandContext, execution_id: UUID, step_id: str, ui_status: str
    ) -> UUID:
        return self._act(
            ctx,
            execution_id,
            lambda e, at: e.change_ui_status(step_id=step_id, ui_status=ui_status, at=at),
        )

    def record_reminder(self, ctx: CommandContext, execution_id: UUID, **fields: Any) -> UUID:
        return self._act(ctx, execution_id, lambda e, at: e.record_reminder(**fields, at=at))

    def record_email(self, ctx: CommandContext, execution_id: UUID, **fields: Any) -> UUID:
        return self._act(ctx, execution_id, lambda e, at: e.record_email(**fields, at=at))

    def record_http_request(self, ctx: CommandContext, execution_id: UUID, **fields: Any) -> UUID:
        return self._act(ctx, execution_id, lambda e, at: e.record_http_request(**fields, at=at))

    def complete(
        self, ctx: CommandContext, execution_id: UUID, output: Mapping[str, Any] | None = None
    ) -> UUID:
        return self._act(
            ctx, execution_id, lambda e, at: e.complete(output=dict(output or {}), at=at)
        )

    def fail(
        self, ctx: CommandContext, execution_id: UUID, error: str, step_id: str | None = None
    ) -> UUID:
        return self._act(
            ctx, execution_id, lambda e, at: e.fail(step_id=step_id, error=error, at=at)
        )

    def cancel(
        self, ctx: CommandContext, execution_id: UUID, reason: str, cancelled_by: str | None
    ) -> UUID:
        return self._act(
            ctx,
            execution_id,
            lambda e, at: e.cancel(reason=reason, cancelled_by=cancelled_by, at=at),
        )

    def time_out(
        self, ctx: CommandContext, execution_id: UUID, reason: str, step_id: str | None = None
    ) -> UUID:
        return self._act(
            ctx, execution_id, lambda e, at: e.time_out(step_id=step_id, reason=reason, at=at)
        )

    def get_execution(self, ctx: CommandContext, execution_id: UUID) -> WorkflowExecution:
        return self._load(WorkflowExecution, "execution", execution_id, ctx)
