"""The execution service: what the generic workflow interpreter records as it runs a definition.

Its commands are the interpreter's step commands (execution_steps.py): each records a step
together with its effect in one save, which is the only way an execution's events are written.
The interpreter's activities call them with a command id derived from the workflow id and step,
so a retried activity records nothing twice. The saga commands below record compensation
(docs/engine.md, "Compensation"): its start, each compensating step's start (the step then
completes or fails through the ordinary step commands) and its end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.errors import NotFoundError
from application.metadata import CommandContext
from application.services.base import Outcome
from application.services.execution_steps import (
    ExecutionStepCommands,
    _open_step,
    _record_done,
)
from domain.execution import CANCELLED, COMPENSATING, WorkflowExecution
from domain.steps import StepDone, StepRef
from domain.task import Task


class ExecutionService(ExecutionStepCommands):
    """The interpreter's step commands, and the aggregate as the engine's tests inspect it."""

    def get_execution(self, ctx: CommandContext, execution_id: UUID) -> WorkflowExecution:
        return self._read(WorkflowExecution, "execution", execution_id, ctx)

    # -- parked steps (on_failure: park) ------------------------------------------------------

    def park_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        error: str,
        before: Sequence[StepDone] = (),
    ) -> UUID:
        """Record the steps `before`, then that `step` failed with `error` and waits for an
        admin (opened first if it never recorded its start)."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            _record_done(execution, before)
            _open_step(execution, step, now)
            execution.park_step(step_id=step.id, error=error, at=now)
            return execution_id, [execution]

        return self._execute(ctx, run)

    def resolve_parked_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        action: str,
        requested_by: str | None,
        reason: str | None,
    ) -> UUID:
        """Record who asked to retry or skip the parked `step`, and why."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            execution.resolve_parked_step(
                step_id=step.id, action=action, requested_by=requested_by, reason=reason, at=now
            )
            return execution_id, [execution]

        return self._execute(ctx, run)

    # -- retry of a failed or timed-out execution (POST /executions/{id}/retry) ---------------

    def retry_execution(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        requested_by: str | None,
        reason: str | None,
        workflow_run_id: str,
    ) -> UUID:
        """Record that the execution runs again from `step`, in the run `workflow_run_id`."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            execution.retry(
                from_step=step.id,
                step_type=step.type,
                step_name=step.name,
                requested_by=requested_by,
                reason=reason,
                workflow_run_id=workflow_run_id,
                at=now,
            )
            return execution_id, [execution]

        return self._execute(ctx, run)

    # -- moving to another version of the definition (POST /definitions/{id}/migrations) ---

    def migrate_execution(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        to_step: str,
        definition_version: int,
        step_mapping: Mapping[str, str],
        requested_by: str | None,
        before: Sequence[StepDone] = (),
    ) -> UUID:
        """Record the steps `before`, then that the execution, waiting in `step`, moves to
        `definition_version` and goes on in `to_step`."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            _record_done(execution, before)
            execution.migrate(
                step_id=step.id,
                to_step=to_step,
                definition_version=definition_version,
                step_mapping=step_mapping,
                requested_by=requested_by,
                at=now,
            )
            return execution_id, [execution]

        return self._execute(ctx, run)

    # -- saga compensation -------------------------------------------------------------------

    def begin_compensation(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        *,
        cause: str,
        step: StepRef | None,
        reason: str,
        cancelled_by: str | None = None,
        before: Sequence[StepDone] = (),
    ) -> UUID:
        """Record the steps `before`, then that compensation begins: the failed step (opened
        first if it never recorded its start) is closed with `reason`."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            if execution.status == COMPENSATING or execution.is_terminal:
                return execution_id, []  # recorded by an earlier attempt
            _record_done(execution, before)
            if step is not None and cause != CANCELLED:
                _open_step(execution, step, now)
            execution.begin_compensation(
                cause=cause,
                step_id=None if step is None else step.id,
                reason=reason,
                cancelled_by=cancelled_by,
                at=now,
            )
            return execution_id, [execution]

        return self._execute(ctx, run)

    def start_compensation_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        compensation_of: str,
        before: Sequence[StepDone] = (),
    ) -> UUID:
        """Record the steps `before`, then start the compensating `step`: the step commands
        that follow find it open and complete (or fail) it."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            _record_done(execution, before)
            execution.start_compensation_step(
                step_id=step.id,
                step_type=step.type,
                step_name=step.name,
                compensation_of=compensation_of,
                at=now,
            )
            return execution_id, [execution]

        return self._execute(ctx, run)

    def end_compensation(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        *,
        failures: Sequence[Mapping[str, Any]],
        cancel_task_ids: Sequence[UUID] = (),
        before: Sequence[StepDone] = (),
    ) -> UUID:
        """End the execution `compensated` (or `compensation_failed` with `failures`), after
        the steps `before`; a cancelled execution's open tasks are cancelled in the same save,
        as a cancel without compensation does."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            if execution.is_terminal:
                return execution_id, []  # ended by an earlier attempt
            _record_done(execution, before)
            execution.end_compensation(failures=failures, at=now)
            others: list[Aggregate] = []
            for task_id in cancel_task_ids:
                try:
                    task = self._load(Task, "task", task_id, ctx)
                except NotFoundError:
                    continue  # nothing to cancel; the execution must still end
                if task.status not in ("done", "cancelled"):
                    task.change_status(
                        status="cancelled",
                        metadata={"cancel_reason": execution.error or "cancelled"},
                        at=now,
                    )
                    others.append(task)
            return execution_id, [execution, *others]

        return self._execute(ctx, run)
