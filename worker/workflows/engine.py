"""The interpreter's runtime inside the workflow: state, templates, and calls to activities.

Workflow code: deterministic and free of I/O. It imports only temporalio, the worker's pydantic
contracts and the pure domain modules (the definition model, the step types, the template
language), all passed through the sandbox so that nothing heavy is re-imported per run; the
workflow passes this module and the runners through too (see execution.py), so nothing here may
keep state at module level. Time comes from ``workflow.now()``; activities are called by
reference (``EngineActivities.…``), so a renamed activity fails type-checking here.

Recording activities run as local activities: they only append events through the services and
take milliseconds, and a local activity saves the server round trips of scheduling one (see
RECORD_AS_LOCAL for the measurement). Calls that reach outside (SMTP, HTTP, reminders that may
email) are regular activities with their own retry policies.

Steps that need no activity of their own (a condition, a status change, the end of a wait) are
not recorded one by one: `done` keeps them in `state.pending`, and the next local call (a step's
activity, a wait, the finish) records them in its own save, each started and completed at the
workflow time it ran. Histories recorded before this (no `BATCH_PATCH` marker) replay the old
way, one record per step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    TimeoutType,
    is_cancelled_exception,
)
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from domain.definition_model import END, Definition, Step
    from domain.errors import TemplateResolutionError, TemplateSyntaxError
    from domain.steps import StepConfig, StepConfigError, StepDone, StepRef, Wait, step_type
    from domain.templates import render_value
    from worker.contracts import (
        REFUSAL_TYPES,
        ExecutionInput,
        ExecutionResult,
        ExecutionState,
        PendingReminder,
        TaskRef,
        TaskStatusChanged,
    )
    from worker.step_calls import (
        BeginExecution,
        BeginResult,
        Call,
        EngineActivities,
        FinishExecution,
        RecordStep,
        SendReminder,
        StepResult,
    )

C = TypeVar("C", bound=Call)
R = TypeVar("R", bound=BaseModel)
Activity = Callable[[EngineActivities, C], R]
Outcome = Literal["completed", "failed", "cancelled", "timed_out"]

# Measured on the 2-core development machine (dev server, local Postgres), an execution of ten
# recording steps: local activities p50 161 ms / p90 200 ms one at a time, 100 concurrent in
# 15.4 s (52 steps/s); regular activities p50 597 ms / p90 628 ms, 100 concurrent in 26.6 s
# (30 steps/s). Changing this changes every new history (local and regular activities record
# differently), so replay of older histories would fail: guard a change with workflow.patched
# (see ExecutionWorkflow's docstring); test_replay.py proves the replay would fail.
RECORD_AS_LOCAL = True
RECORD_TIMEOUT = timedelta(seconds=30)
# How long a recording retries: long enough to ride out a realistic Postgres outage (a restart
# or a failover takes seconds to a minute or two), short enough that an error no retry can fix
# (a bug, a failure nobody classified) ends the execution `failed` with its reason instead of
# retrying forever. Refusals and data errors are raised non-retryable (worker/interceptors.py)
# and end the step at once. docs/operations.md ("Retry windows") tells operators.
RECORD_WINDOW = timedelta(minutes=5)
# Bounded by attempts, not by a schedule-to-close timeout: a local activity's timeout that
# fires while an attempt runs was seen (on a loaded machine) to restart the call rather than
# end it, while the attempt count is decided where every retry is. 17 attempts with this
# backoff span RECORD_WINDOW when each fails at once (0.2 s doubling to 30 s: 51 s for the
# first eight, then 30 s each); an attempt itself is bounded by RECORD_TIMEOUT.
RECORD_ATTEMPTS = 17
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=RECORD_ATTEMPTS,
    non_retryable_error_types=REFUSAL_TYPES,
)
# The one record an execution makes after its recording failed for good: that it failed, and
# why, without the data that could not be stored. Unbounded on purpose: it is the execution's
# last word, and without it the read model would show the execution running forever; it
# carries no caller data, and a data error or refusal is non-retryable, so it cannot loop on
# bad input, only wait out an outage that lasts longer than RECORD_WINDOW.
LAST_RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=REFUSAL_TYPES,
)
# Executions whose recording fails for good end `failed` with the reason (see `begin` and
# `finish`); histories from before this failed their workflow instead.
RECORD_FAILURE_PATCH = "record-failure-ends-execution"
FINISHED_TASK_STATUSES = ("done", "cancelled")
# Recording steps that need no activity of their own with the next call's save (see the module
# docstring); asked once per run, at the first such step.
BATCH_PATCH = "record-steps-with-next-call"


class StepHalt(Exception):  # noqa: N818 - a control-flow signal, not an error to report
    """Ends the execution at the current step: `failed` or `timed_out`, with why."""

    def __init__(self, outcome: Outcome, error: str) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error


def step_ref(step: Step) -> StepRef:
    return StepRef(step.id, step.type, step.name)


def describe(step: Step, problem: str) -> str:
    """An error message that names the step, as the run timeline shows it."""
    return f"Step '{step.id}' ({step.name}): {problem}"


def activity_problem(
    error: FailureError, attempts: int | None = None, window: timedelta | None = None
) -> str:
    """Why an activity failed for good, in words the timeline can show. A regular activity's
    failure arrives as an `ActivityError` around its cause; a local activity's as the cause
    itself."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ActivityTimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_CLOSE:
        # The retry window ran out: say so, with the last attempt's failure when known.
        last = cause.cause
        gave_up = f"gave up after retrying for {_duration(window or RECORD_WINDOW)}"
        return f"{gave_up} ({last.message})" if isinstance(last, FailureError) else gave_up
    message = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
    if isinstance(error, ActivityError) and not isinstance(cause, ActivityTimeoutError):
        exhausted = error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    else:  # a timed-out last attempt, or a local activity's last failure, retryable by its
        # kind: either way the attempts ran out
        exhausted = isinstance(cause, ActivityTimeoutError) or (
            isinstance(cause, ApplicationError) and not cause.non_retryable
        )
    if attempts is not None and exhausted:
        message += f" (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
    return message


def failed_for_good(error: BaseException) -> bool:
    """Whether a recording call's `error` is its final failure, to be recorded as the
    execution's: a refusal, a data error, a retry window that ran out; not a cancellation.

    A local activity's failure reaches the workflow as the bare `ApplicationError` (or
    `TimeoutError`), not wrapped in an `ActivityError`: before RECORD_FAILURE_PATCH that failed
    the whole workflow and left the execution `running` in the read model. Histories recorded
    before the patch replay that way still.
    """
    if not isinstance(error, FailureError) or is_cancelled_exception(error):
        return False
    return isinstance(error, ActivityError) or workflow.patched(RECORD_FAILURE_PATCH)


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def ordered(definition: Definition) -> Definition:
    """The steps in run order: by `order` when any step has one (as validation sorts them)."""
    if not any(step.order is not None for step in definition.steps):
        return definition
    steps = tuple(sorted(definition.steps, key=lambda step: step.order or 0))
    return Definition(
        name=definition.name,
        description=definition.description,
        statuses=definition.statuses,
        steps=steps,
    )


class Engine:
    """One execution's interpreter state and the operations every step type uses."""

    def __init__(self, input: ExecutionInput) -> None:
        self.input = input
        self.definition = ordered(Definition.from_dict(input.definition))
        self.state: ExecutionState = (
            input.state.model_copy(deep=True)
            if input.state is not None
            else ExecutionState(contact_id=input.contact_id)
        )
        self.status = "running" if self.state.begun else "pending"
        self.current_step_id: str | None = self.state.next_step_id if self.state.begun else None
        self.waiting: Wait | None = None
        self._batching: bool | None = None
        self._reminder_tasks: dict[str, asyncio.Task[None]] = {}
        self._reminders_in_flight = 0

    # -- identities ------------------------------------------------------------------------

    def key(self, step: Step, what: str) -> str:
        """The command key of one call: unique per visit of a step, stable across replays."""
        return f"{self.state.step_seq}-{step.id}/{what}"

    def base(self, step: Step, what: str, *, carry: bool = True) -> dict[str, Any]:
        """The fields every step call carries: with `carry`, the steps still to record (a call
        that reaches outside carries none, see `flush`)."""
        return {
            "meta": self.input.meta,
            "execution_id": self.input.execution_id,
            "command_key": self.key(step, what),
            "step": step_ref(step),
            "before": list(self.state.pending) if carry else [],
        }

    def follow(self, step: Step) -> str:
        """Where the run goes after `step` when nothing jumps: its `next`, or the next step."""
        return self.definition.next_step_id(step.id)

    # -- templates -------------------------------------------------------------------------

    def template_context(self) -> dict[str, Any]:
        context: dict[str, Any] = dict(self.state.outputs)
        context.update(
            contact=self.state.contact,
            payload=self.input.payload,
            input=self.input.input,
            execution={
                "id": self.input.execution_id,
                "status": self.status,
                "ui_status": self.state.ui_status,
                "definition_id": self.input.definition_id,
                "definition_version": self.input.definition_version,
                "workflow_id": workflow.info().workflow_id,
                "contact_id": self.state.contact_id,
            },
        )
        return context

    def render(self, step: Step) -> dict[str, Any]:
        """The step's config with every template rendered; a template that cannot resolve
        fails the step with a message naming the step and the expression."""
        try:
            rendered: dict[str, Any] = render_value(
                step.config, self.template_context(), workflow.now()
            )
        except (TemplateResolutionError, TemplateSyntaxError) as error:
            raise StepHalt("failed", describe(step, error.message)) from None
        return rendered

    def parse(self, step: Step, rendered: dict[str, Any]) -> StepConfig:
        """The rendered config as its step type's typed model; a value of the wrong kind fails
        the step with a message naming the step and the field."""
        try:
            return step_type(step.type).parse(rendered)
        except KeyError:
            raise StepHalt("failed", describe(step, f"unknown step type {step.type!r}.")) from None
        except StepConfigError as error:
            raise StepHalt("failed", describe(step, error.message)) from None

    # -- activities ------------------------------------------------------------------------

    async def record(self, activity: Activity[C, R], call: C, *, last: bool = False) -> R:
        """A recording activity (local, see RECORD_AS_LOCAL); failures propagate as is.

        It retries as RECORD_RETRY says; with `last` (the record of a failure to record),
        until the database answers (LAST_RECORD_RETRY says why).

        The pending steps the call carries (`before`) are recorded once it returns. When it
        fails they stay pending, for the finish that follows: a refused call saved nothing, and
        a cancelled one may or may not have saved, so they go on marked `maybe_recorded`.
        """
        retry = LAST_RECORD_RETRY if last else RECORD_RETRY
        try:
            if RECORD_AS_LOCAL:
                result: R = await workflow.execute_local_activity_method(
                    activity,
                    call,
                    start_to_close_timeout=RECORD_TIMEOUT,
                    retry_policy=retry,
                )
            else:
                result = await workflow.execute_activity_method(
                    activity,
                    call,
                    start_to_close_timeout=RECORD_TIMEOUT,
                    retry_policy=retry,
                )
        except BaseException as error:
            if call.before and is_cancelled_exception(error):
                carried = len(call.before)
                self.state.pending = [
                    done.model_copy(update={"maybe_recorded": True})
                    for done in self.state.pending[:carried]
                ] + self.state.pending[carried:]
            raise
        if call.before:
            self.state.pending = self.state.pending[len(call.before) :]
        return result

    async def step_call(
        self, step: Step, activity: Activity[C, StepResult], call: C
    ) -> dict[str, Any]:
        """A recording step activity; its refusal fails the step."""
        try:
            result = await self.record(activity, call)
        except FailureError as error:
            if not failed_for_good(error):
                raise
            problem = activity_problem(error, RECORD_RETRY.maximum_attempts)
            raise StepHalt("failed", describe(step, problem)) from None
        return result.output

    async def remote_step_call(
        self,
        step: Step,
        activity: Activity[C, StepResult],
        call: C,
        *,
        timeout: timedelta,
        retry: RetryPolicy,
        window: timedelta | None = None,
    ) -> dict[str, Any]:
        """A step activity that reaches outside: a regular activity with its own retries,
        bounded by their `maximum_attempts` or by `window`.

        It carries no pending steps (their record would wait for the outside world): `flush`
        records them first."""
        try:
            result: StepResult = await workflow.execute_activity_method(
                activity,
                call,
                start_to_close_timeout=timeout,
                schedule_to_close_timeout=window,
                retry_policy=retry,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            attempts = retry.maximum_attempts or None
            problem = activity_problem(error, attempts, window)
            raise StepHalt("failed", describe(step, problem)) from None
        return result.output

    async def record_step(
        self,
        step: Step,
        what: str,
        *,
        output: dict[str, Any] | None = None,
        wait: Wait | None = None,
    ) -> dict[str, Any]:
        """Record that the step started (if not yet) and waits or completed with `output`."""
        call = RecordStep(**self.base(step, what), output=output, wait=wait)
        recorded = await self.step_call(step, EngineActivities.record_step, call)
        if output is not None:
            self.complete(step, recorded or output)
        return recorded

    @property
    def batching(self) -> bool:
        """Whether steps without an activity of their own wait for the next call's save."""
        if self._batching is None:
            self._batching = workflow.patched(BATCH_PATCH)
        return self._batching

    async def done(
        self, step: Step, what: str, output: dict[str, Any], *, ui_status: str | None = None
    ) -> None:
        """The step completed with `output`, nothing else to do outside: recorded with the next
        call (or, in histories from before batching, at once under the key `what`)."""
        if not self.batching:
            await self.record_step(step, what, output=output)
            return
        self.state.pending.append(
            StepDone(step=step_ref(step), at=workflow.now(), output=output, ui_status=ui_status)
        )
        self.complete(step, output)

    async def flush(self, step: Step) -> None:
        """Record the pending steps now, starting `step`: before a call that reaches outside,
        so that the timeline does not wait for SMTP or a slow endpoint."""
        if self.state.pending:
            await self.record_step(step, "start")

    def complete(self, step: Step, output: dict[str, Any]) -> None:
        """Keep a completed step's output: later templates read it as `{{<step id>.…}}`."""
        self.state.outputs[step.id] = output
        self.status = "running"
        self.waiting = None

    async def wait_for(self, step: Step, wait: Wait, condition: Callable[[], bool]) -> bool:
        """Record the wait, then wait until `condition` holds or `wait.until` passes.

        Returns False on timeout. The deadline is a durable Temporal timer.
        """
        await self.record_step(step, "wait", wait=wait)
        self.status = "waiting"
        self.waiting = wait
        timeout = None if wait.until is None else wait.until - workflow.now()
        try:
            await workflow.wait_condition(condition, timeout=timeout)
        except TimeoutError:
            return False
        return True

    # -- lifecycle -------------------------------------------------------------------------

    async def begin(self) -> ExecutionResult | None:
        """Create the contact if needed and the execution; record the trigger step.

        Returns the result of an execution that could not even start, else None.
        """
        trigger = self.definition.trigger
        contact = self.input.contact
        if contact is None and self.input.contact_id is None:
            mapping = trigger.config.get("contact")
            if isinstance(mapping, dict) and mapping:
                # Lenient: a form that leaves out an optional field (a phone number) should
                # still create the contact; a missing value is simply not set.
                rendered = render_value(
                    mapping,
                    {"payload": self.input.payload, "input": self.input.input},
                    workflow.now(),
                    strict=False,
                )
                contact = {k: v for k, v in rendered.items() if v not in (None, "")}
        trigger_type = trigger.config.get("type")
        trigger_record = {"type": trigger_type, **self.input.trigger}
        trigger_record.setdefault("payload", self.input.payload)
        call = BeginExecution(
            meta=self.input.meta,
            execution_id=self.input.execution_id,
            command_key="begin",
            definition_id=self.input.definition_id,
            definition_version=self.input.definition_version,
            contact_id=self.input.contact_id,
            contact=contact or None,
            input=self.input.input,
            trigger=trigger_record,
            trigger_step=step_ref(trigger),
            trigger_output={"type": trigger_type, "payload": self.input.payload},
        )
        try:
            result: BeginResult = await self.record(EngineActivities.begin_execution, call)
        except FailureError as error:
            if not failed_for_good(error) or not workflow.patched(RECORD_FAILURE_PATCH):
                raise
            # Its data cannot be stored (a NUL in a webhook's payload, say), or the recording
            # gave up: record the execution without its data, failed, with the reason. Same
            # command key: a begin that did save stands, and this one then adds nothing.
            problem = activity_problem(error, RECORD_RETRY.maximum_attempts)
            reason = f"The execution could not be recorded: {problem}"
            bare = {"type": trigger_type}
            failed = call.model_copy(
                update={
                    "contact_id": None,
                    "contact": None,
                    "input": {},
                    "trigger": bare,
                    "trigger_output": bare,
                    "error": reason,
                }
            )
            result = await self.record(EngineActivities.begin_execution, failed, last=True)
        self.state.begun = True
        self.state.contact_id = result.contact_id
        self.state.contact = result.contact
        self.state.outputs[trigger.id] = {
            "type": trigger_type,
            "payload": self.input.payload,
            "contact_id": result.contact_id,
        }
        if result.error is not None:
            self.status = "failed"
            return ExecutionResult(
                execution_id=self.input.execution_id,
                status="failed",
                step_id=trigger.id,
                error=result.error,
            )
        self.status = "running"
        self.state.next_step_id = self.definition.next_step_id(trigger.id)
        return None

    async def finish(
        self,
        outcome: Outcome,
        *,
        step: Step | None = None,
        error: str | None = None,
        cancelled_by: str | None = None,
        cancel_task_ids: list[str] | None = None,
    ) -> ExecutionResult:
        self.stop_reminders()
        output = {"ui_status": self.state.ui_status} if outcome == "completed" else {}
        call = FinishExecution(
            meta=self.input.meta,
            execution_id=self.input.execution_id,
            command_key=f"{self.state.step_seq}-finish",
            before=list(self.state.pending),
            outcome=outcome,
            step=None if step is None else step_ref(step),
            error=error,
            cancelled_by=cancelled_by,
            output=output,
            cancel_task_ids=cancel_task_ids or [],
        )
        try:
            await self.record(EngineActivities.finish_execution, call)
        except FailureError as failure:
            if not failed_for_good(failure) or not workflow.patched(RECORD_FAILURE_PATCH):
                raise
            # The finish could not be saved (a step still to record carries data that cannot
            # be stored, say, or the recording gave up): end the execution without the steps
            # it carried, failed (a cancel stays a cancel), with the reason. Same command key:
            # a finish that did save stands, and this one then adds nothing.
            problem = activity_problem(failure, RECORD_RETRY.maximum_attempts)
            problem = f"its record could not be saved: {problem}"
            error = f"{error}; {problem}" if error else f"The execution ended but {problem}"
            outcome = "cancelled" if outcome == "cancelled" else "failed"
            last = call.model_copy(
                update={"before": [], "outcome": outcome, "error": error, "output": {}}
            )
            await self.record(EngineActivities.finish_execution, last, last=True)
            self.state.pending = []
        self.status = outcome
        self.waiting = None
        return ExecutionResult(
            execution_id=self.input.execution_id,
            status=outcome,
            ui_status=self.state.ui_status,
            step_id=None if step is None else step.id,
            error=error,
        )

    def step_named(self, step_id: str) -> Step | None:
        try:
            return self.definition.step(step_id)
        except KeyError:
            return None

    # -- tasks -----------------------------------------------------------------------------

    def open_task_ids(self) -> list[str]:
        return [
            ref.task_id
            for ref in self.state.tasks.values()
            if ref.assigned and ref.status not in FINISHED_TASK_STATUSES
        ]

    def learn_task(self, ref: TaskRef) -> None:
        """Keep the newest news of a task: a signal may overtake the step that assigned it."""
        known = self.state.tasks.get(ref.task_id)
        if known is not None and (known.version or 0) > (ref.version or 0):
            known.title = known.title or ref.title
            known.assigned_to = ref.assigned_to or known.assigned_to
            known.assigned = known.assigned or ref.assigned
            return
        if known is not None:
            ref.step_id = ref.step_id or known.step_id
            ref.assigned = ref.assigned or known.assigned
        self.state.tasks[ref.task_id] = ref

    def task_changed(self, change: TaskStatusChanged) -> None:
        if change.execution_id != self.input.execution_id:
            return
        known = self.state.tasks.get(change.task_id)
        self.learn_task(
            TaskRef(
                task_id=change.task_id,
                step_id=change.step_id or (known.step_id if known else ""),
                status=change.status,
                title=None if known is None else known.title,
                assigned_to=None if known is None else known.assigned_to,
                metadata=change.metadata,
                completed_at=change.completed_at,
                version=change.version,
            )
        )

    def task_from_step(self, step: Step, source_step_id: str) -> TaskRef:
        task_id = self.state.step_tasks.get(source_step_id)
        if task_id is None or task_id not in self.state.tasks:
            raise StepHalt(
                "failed",
                describe(
                    step,
                    f"it works on the task of step '{source_step_id}', which has not assigned "
                    "one in this execution.",
                ),
            )
        return self.state.tasks[task_id]

    # -- reminders -------------------------------------------------------------------------

    def schedule_reminder(self, reminder: PendingReminder) -> None:
        self.state.reminders.append(reminder)
        self._spawn(reminder)

    def resume_reminders(self) -> None:
        """After continue-as-new: the timers of reminders that have not fired yet."""
        for reminder in self.state.reminders:
            self._spawn(reminder)

    def stop_reminders(self) -> None:
        """A finished execution reminds nobody: pending reminders are dropped."""
        for task in self._reminder_tasks.values():
            task.cancel()
        self._reminder_tasks.clear()
        self.state.reminders.clear()

    async def reminders_settled(self) -> None:
        await workflow.wait_condition(lambda: self._reminders_in_flight == 0)

    def _spawn(self, reminder: PendingReminder) -> None:
        self._reminder_tasks[reminder.key] = asyncio.create_task(self._remind_later(reminder))

    async def _remind_later(self, reminder: PendingReminder) -> None:
        delay = reminder.fire_at - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        task = self.state.tasks.get(reminder.task_id or "")
        if task is None or task.status not in FINISHED_TASK_STATUSES:
            count = self.state.reminder_counts.get(reminder.step_id, 0) + 1
            self.state.reminder_counts[reminder.step_id] = count
            self._reminders_in_flight += 1
            try:
                await self.send_reminder(
                    SendReminder(
                        meta=self.input.meta,
                        execution_id=self.input.execution_id,
                        command_key=f"{reminder.key}/send",
                        step_id=reminder.step_id,
                        task_id=reminder.task_id,
                        recipient=reminder.recipient,
                        count=count,
                        message=reminder.message,
                        email_to=reminder.email_to,
                        subject=reminder.subject,
                    )
                )
            except ActivityError as error:
                if is_cancelled_exception(error):
                    raise
                workflow.logger.warning(
                    "reminder not recorded", extra={"step_id": reminder.step_id, "error": error}
                )
            finally:
                self._reminders_in_flight -= 1
        self.state.reminders = [r for r in self.state.reminders if r.key != reminder.key]
        self._reminder_tasks.pop(reminder.key, None)

    async def remind(self, step: Step, call: SendReminder) -> None:
        """A reminder of the running step; its refusal fails the step."""
        try:
            await self.send_reminder(call)
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            problem = activity_problem(error, RECORD_RETRY.maximum_attempts)
            raise StepHalt("failed", describe(step, problem)) from None

    async def send_reminder(self, call: SendReminder) -> None:
        """A regular activity: it may email, and waits out SMTP trouble with backoff."""
        await workflow.execute_activity_method(
            EngineActivities.send_reminder,
            call,
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=RECORD_WINDOW,
            retry_policy=RECORD_RETRY,
        )

    # -- continue-as-new -------------------------------------------------------------------

    def should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.input.history_limit
        )

    async def continue_as_new(self) -> None:
        """Hand the state to a fresh run: between steps, with no reminder half-sent."""
        await self.reminders_settled()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.state.runs += 1
        workflow.continue_as_new(self.input.model_copy(update={"state": self.state}))


__all__ = ["END", "Engine", "StepHalt", "describe", "step_ref"]
