"""The execution interpreter's step commands: a step and its effect recorded in one save.

Each command records one step of an execution together with its effect (a task assigned, a
contact updated, an email recorded) in ONE save, so the timeline and the effect commit together
or not at all, and a step costs the engine one database round trip. A step is started first
when it is not already open, so a retried call, or one following a separately recorded wait,
never starts it twice. Several aggregates in one save is deliberate here: the execution's
timeline and the task it assigned are one fact seen from two sides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.errors import NotFoundError
from application.metadata import CommandContext
from application.services.base import Outcome, Service, derived_id
from application.services.contacts import ContactDraft
from application.services.tasks import TaskDraft
from domain.contact import Contact
from domain.execution import (
    CANCELLED,
    COMPLETED,
    FAILED,
    TIMED_OUT,
    WorkflowExecution,
)
from domain.steps import StepDone, StepRef, Wait
from domain.task import Task

_UNSET: Any = object()
StepAct = Callable[[WorkflowExecution, datetime], tuple[dict[str, Any] | None, list[Aggregate]]]


def task_view(task: Task) -> dict[str, Any]:
    """A task as a step output shows it (`{{step_2.task.id}}`, `{{step_3.task.metadata}}`)."""
    due = task.due_date
    completed = task.completed_at
    return {
        "id": str(task.id),
        "title": task.title,
        "description": task.description,
        "assigned_to": task.assigned_to,
        "priority": task.priority,
        "due_date": None if due is None else due.isoformat(),
        "status": task.status,
        "metadata": task.metadata,
        "completed_at": None if completed is None else completed.isoformat(),
        "execution_id": task.execution_id,
        "step_id": task.step_id,
        "contact_id": task.contact_id,
        "version": task.version,
    }


def contact_view(contact: Contact) -> dict[str, Any]:
    """A contact as templates see it (`{{contact.first_name}}`, `{{contact.fields.company}}`)."""
    return {
        "id": str(contact.id),
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "status": contact.status,
        "fields": contact.fields,
    }


def _open_step(execution: WorkflowExecution, step: StepRef, at: datetime) -> None:
    if execution.step_is_open(step.id):
        return
    execution.start_step(
        step_id=step.id, step_type=step.type, step_name=step.name, at=at, within=step.within
    )


def _record_done(execution: WorkflowExecution, steps: Sequence[StepDone]) -> None:
    """Steps the workflow finished without a call of their own, each started and completed at
    the time it ran (an update_status step changes the ui_status too).

    A step `maybe_recorded` (its earlier call was cancelled, so the workflow cannot know whether
    it saved) is skipped when the step's latest run already completed at that time.
    """
    uncertain = any(done.maybe_recorded for done in steps)
    history = execution.step_history if uncertain else []
    for done in steps:
        if done.maybe_recorded and _completed_at(history, done):
            continue
        _open_step(execution, done.step, done.at)
        if done.ui_status is not None:
            execution.change_ui_status(step_id=done.step.id, ui_status=done.ui_status, at=done.at)
        execution.complete_step(step_id=done.step.id, output=dict(done.output), at=done.at)


def _completed_at(history: Sequence[Mapping[str, Any]], done: StepDone) -> bool:
    for entry in reversed(history):
        if entry["step_id"] == done.step.id:
            completed = entry.get("completed_at")
            return (
                entry["status"] == "completed"
                and completed is not None
                and datetime.fromisoformat(completed) == done.at
            )
    return False


class ExecutionStepCommands(Service):
    """Mixed into ExecutionService; every method is one command of the interpreter."""

    def begin(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        *,
        definition_id: str,
        definition_version: int,
        workflow_id: str,
        workflow_run_id: str,
        contact_id: str | None,
        input: Mapping[str, Any],
        trigger: Mapping[str, Any],
        trigger_step: StepRef,
        trigger_output: Mapping[str, Any],
        failure: str | None = None,
    ) -> UUID:
        """Create and start the execution and record its trigger step; with `failure` (the
        contact could not be created, say) the trigger step and the execution fail at once."""

        def run(now: datetime) -> Outcome:
            execution = WorkflowExecution.create(
                execution_id=execution_id,
                org_id=ctx.org_id,
                definition_id=definition_id,
                definition_version=definition_version,
                contact_id=contact_id,
                input=dict(input),
                workflow_id=workflow_id,
                trigger=dict(trigger),
                at=now,
            )
            execution.start(workflow_run_id=workflow_run_id, at=now)
            _open_step(execution, trigger_step, now)
            if failure is None:
                execution.complete_step(
                    step_id=trigger_step.id, output=dict(trigger_output), at=now
                )
            else:
                execution.fail(step_id=trigger_step.id, error=failure, at=now)
            return execution_id, [execution]

        return self._execute(ctx, run)

    def _step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        act: StepAct,
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any] | None:
        """Record the steps `before` (see _record_done), then run `act` on the open step and
        complete the step with the output `act` returns, if any; all in one save.

        Returns that output; when an earlier attempt already recorded this command, the output
        it recorded.
        """
        produced: list[dict[str, Any] | None] = []

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            _record_done(execution, before)
            _open_step(execution, step, now)
            output, others = act(execution, now)
            if output is not None:
                execution.complete_step(step_id=step.id, output=output, at=now)
            produced[:] = [output]
            return execution_id, [execution, *others]

        _, fresh = self._run_command(ctx, run)
        if fresh and produced:
            return produced[0]
        # A rerun of a step recorded before answers what was recorded then.
        return self.step_output(ctx, execution_id, step.id)

    def already_recorded(self, ctx: CommandContext) -> bool:
        """Whether this command already ran: a side effect that precedes its record (an email
        sent) must not happen again when the activity is retried."""
        return self._store.recorder.command_outcome(ctx.command_id) is not None

    def step_output(
        self, ctx: CommandContext, execution_id: UUID, step_id: str
    ) -> dict[str, Any] | None:
        """The output recorded by the latest run of `step_id`, if it completed."""
        execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
        return execution.last_step_output(step_id)

    def record_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        wait: Wait | None = None,
        output: Mapping[str, Any] | None = None,
        error: str | None = None,
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any] | None:
        """Start the step if needed, then record that it waits, completed, or failed."""

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            if wait is not None:
                execution.wait(
                    step_id=step.id,
                    waiting_for=wait.waiting_for,
                    until=wait.until,
                    detail=dict(wait.detail),
                    at=at,
                )
            if error is not None:
                execution.fail_step(step_id=step.id, error=error, at=at)
                return None, []
            return (None if output is None else dict(output)), []

        return self._step(ctx, execution_id, step, act, before)

    def assign_task_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        draft: TaskDraft,
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        task_id = draft.task_id or derived_id("task", ctx)

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            task = Task.assign(
                task_id=task_id,
                org_id=ctx.org_id,
                title=draft.title,
                description=draft.description,
                assigned_to=draft.assigned_to,
                priority=draft.priority,
                due_date=draft.due_date,
                execution_id=str(execution_id),
                step_id=step.id,
                contact_id=draft.contact_id,
                metadata=dict(draft.metadata),
                at=at,
            )
            return {"task": task_view(task)}, [task]

        return self._step(ctx, execution_id, step, act, before) or {}

    def update_task_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        task_id: UUID,
        changes: Mapping[str, Any],
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        """`changes`: title, description, priority, metadata, assigned_to, due_date (datetime
        or None), as in PATCH /tasks; a step's own change does not signal the execution."""
        edits = dict(changes)
        assigned_to = edits.pop("assigned_to", None)
        due_date = edits.pop("due_date", _UNSET)

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            task = self._load(Task, "task", task_id, ctx)
            if edits:
                task.update(changes=edits, at=at)
            if assigned_to is not None:
                task.reassign(assigned_to=str(assigned_to), at=at)
            if due_date is not _UNSET:
                task.set_due_date(due_date=due_date, at=at)
            return {"task": task_view(task)}, [task]

        return self._step(ctx, execution_id, step, act, before) or {}

    def complete_task_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        task_id: UUID,
        metadata: Mapping[str, Any],
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            task = self._load(Task, "task", task_id, ctx)
            task.change_status(status="done", metadata=dict(metadata), at=at)
            return {"task": task_view(task)}, [task]

        return self._step(ctx, execution_id, step, act, before) or {}

    def update_contact_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        contact_id: UUID,
        changes: Mapping[str, Any],
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        edits = {key: value for key, value in changes.items() if key != "status"}
        status = changes.get("status")

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            contact = self._load(Contact, "contact", contact_id, ctx)
            if edits:
                contact.update(changes=edits, at=at)
            if status is not None:
                contact.change_status(status=str(status), at=at)
            return {"contact": contact_view(contact)}, [contact]

        return self._step(ctx, execution_id, step, act, before) or {}

    def create_contact_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        draft: ContactDraft,
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        """A new contact ("Create Record"), created in the step's own save: its id derives
        from the command, so a retried call collides with its first outcome instead of creating
        a second contact."""
        contact_id = draft.contact_id or derived_id("contact", ctx)

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            contact = Contact.create(
                contact_id=contact_id,
                org_id=ctx.org_id,
                first_name=draft.first_name,
                last_name=draft.last_name,
                email=draft.email,
                phone=draft.phone,
                status=draft.status,
                fields=dict(draft.fields),
                at=at,
            )
            return {"contact": contact_view(contact)}, [contact]

        return self._step(ctx, execution_id, step, act, before) or {}

    def archive_contact_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        contact_id: UUID,
        reason: str | None,
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        """Archive a contact ("Delete Record"); one already archived is refused (the domain
        says so), which fails the step, except on a rerun of this same command, which answers
        what the first run recorded."""

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            contact = self._load(Contact, "contact", contact_id, ctx)
            contact.archive(reason=reason, at=at)
            output = {"contact": contact_view(contact), "archived": True, "reason": reason}
            return output, [contact]

        return self._step(ctx, execution_id, step, act, before) or {}

    def update_status_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        ui_status: str,
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            previous = execution.ui_status
            execution.change_ui_status(step_id=step.id, ui_status=ui_status, at=at)
            return {"ui_status": execution.ui_status, "previous": previous}, []

        return self._step(ctx, execution_id, step, act, before) or {}

    def set_due_date_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        due_date: datetime,
        task_id: UUID | None,
        before: Sequence[StepDone] = (),
    ) -> dict[str, Any]:
        """With a task, reschedule it; without one the date is the execution's own due date,
        which its step output records (the aggregate has no field of its own for it)."""

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            output: dict[str, Any] = {
                "due_date": due_date.isoformat(),
                "task_id": None if task_id is None else str(task_id),
            }
            if task_id is None:
                return output, []
            task = self._load(Task, "task", task_id, ctx)
            task.set_due_date(due_date=due_date, at=at)
            return {**output, "task": task_view(task)}, [task]

        return self._step(ctx, execution_id, step, act, before) or {}

    def email_step(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        to: list[str],
        subject: str,
        delivered: bool,
        message_id: str | None,
        error: str | None,
        output: Mapping[str, Any],
    ) -> dict[str, Any]:
        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            execution.record_email(
                step_id=step.id,
                to=to,
                subject=subject,
                delivered=delivered,
                message_id=message_id,
                error=error,
                at=at,
            )
            return dict(output), []

        return self._step(ctx, execution_id, step, act) or {}

    def http_attempt(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        step: StepRef,
        *,
        method: str,
        url: str,
        status_code: int | None,
        duration_ms: float,
        error: str | None,
        output: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """One attempt of an outbound call; a successful one (`output`) completes the step."""

        def act(execution: WorkflowExecution, at: datetime) -> tuple[Any, list[Aggregate]]:
            execution.record_http_request(
                step_id=step.id,
                method=method,
                url=url,
                status_code=status_code,
                duration_ms=duration_ms,
                error=error,
                at=at,
            )
            return (None if output is None else dict(output)), []

        return self._step(ctx, execution_id, step, act)

    def remind(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        *,
        step_id: str,
        task_id: str | None,
        recipient: str,
        count: int,
        message: str,
        wait_again: Wait | None = None,
    ) -> UUID:
        """Record a reminder; `wait_again` moves the waiting step's deadline in the same save."""

        def run(at: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            execution.record_reminder(
                step_id=step_id,
                task_id=task_id,
                recipient=recipient,
                count=count,
                message=message,
                at=at,
            )
            if wait_again is not None:
                execution.wait(
                    step_id=step_id,
                    waiting_for=wait_again.waiting_for,
                    until=wait_again.until,
                    detail=dict(wait_again.detail),
                    at=at,
                )
            return execution_id, [execution]

        return self._execute(ctx, run)

    def cancel_steps(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        steps: Sequence[StepRef],
        *,
        reason: str,
        cancel_task_ids: Sequence[UUID] = (),
        failed: StepRef | None = None,
        error: str | None = None,
        before: Sequence[StepDone] = (),
    ) -> UUID:
        """Close the steps the run no longer needs (branches of a parallel step that another
        branch ended or failed, or that a cancel reached) as cancelled with `reason`, and cancel
        the tasks they opened; with `failed`, first close that step (the branch's failed one)
        with `error`; the steps `before` are recorded first (see _record_done). All in one
        save; a step that is not open (it never started, or its end was recorded) is left as
        it is."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            if execution.is_terminal:
                return execution_id, []
            _record_done(execution, before)
            if failed is not None and error is not None:
                _open_step(execution, failed, now)
                execution.fail_step(step_id=failed.id, error=error, at=now)
            for step in steps:
                if execution.step_is_open(step.id):
                    execution.cancel_step(step_id=step.id, reason=reason, at=now)
            others: list[Aggregate] = []
            for task_id in cancel_task_ids:
                try:
                    task = self._load(Task, "task", task_id, ctx)
                except NotFoundError:
                    continue
                if task.status not in ("done", "cancelled"):
                    task.change_status(
                        status="cancelled", metadata={"cancel_reason": reason}, at=now
                    )
                    others.append(task)
            return execution_id, [execution, *others]

        return self._execute(ctx, run)

    def finish(
        self,
        ctx: CommandContext,
        execution_id: UUID,
        outcome: str,
        *,
        step: StepRef | None = None,
        error: str | None = None,
        cancelled_by: str | None = None,
        output: Mapping[str, Any] | None = None,
        cancel_task_ids: Sequence[UUID] = (),
        before: Sequence[StepDone] = (),
    ) -> UUID:
        """End the execution as `outcome`, after recording the steps `before` (see
        _record_done); a cancel also cancels the tasks it names that are still open (done ones
        stay done), all in the same save."""

        def run(now: datetime) -> Outcome:
            execution = self._load(WorkflowExecution, "execution", execution_id, ctx)
            if execution.is_terminal:
                return execution_id, []  # already ended by an earlier command: nothing to add
            _record_done(execution, before)
            if step is not None and outcome in (FAILED, TIMED_OUT):
                _open_step(execution, step, now)
            step_id = None if step is None else step.id
            reason = error or outcome.replace("_", " ")
            others: list[Aggregate] = []
            if outcome == COMPLETED:
                execution.complete(output=dict(output or {}), at=now)
            elif outcome == FAILED:
                execution.fail(step_id=step_id, error=reason, at=now)
            elif outcome == TIMED_OUT:
                execution.time_out(step_id=step_id, reason=reason, at=now)
            elif outcome == CANCELLED:
                execution.cancel(reason=reason, cancelled_by=cancelled_by, at=now)
                for task_id in cancel_task_ids:
                    try:
                        task = self._load(Task, "task", task_id, ctx)
                    except NotFoundError:
                        continue  # nothing to cancel; the execution must still end
                    if task.status not in ("done", "cancelled"):
                        task.change_status(
                            status="cancelled", metadata={"cancel_reason": reason}, at=now
                        )
                        others.append(task)
            else:
                raise ValueError(f"{outcome!r} is not how an execution ends")
            return execution_id, [execution, *others]

        return self._execute(ctx, run)


__all__ = [
    "ExecutionStepCommands",
    "StepDone",
    "StepRef",
    "Wait",
    "contact_view",
    "task_view",
]
