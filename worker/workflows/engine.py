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
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
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

    from domain.definition_model import END, Branch, Definition, Step, migration_target
    from domain.errors import TemplateResolutionError, TemplateSyntaxError
    from domain.steps import StepConfig, StepConfigError, StepDone, StepRef, Wait, step_type
    from domain.templates import render_value
    from worker.contracts import (
        REFUSAL_TYPES,
        SEARCH_CONTACT_ID,
        SEARCH_DEFINITION_VERSION,
        SEARCH_ORG_ID,
        SEARCH_STATUS,
        ExecutionInput,
        ExecutionResult,
        ExecutionState,
        MigrationAnswer,
        MigrationRequest,
        ParkedStepAction,
        PendingReminder,
        RetryRequest,
        TaskRef,
        TaskStatusChanged,
    )
    from worker.step_calls import (
        BeginCompensation,
        BeginExecution,
        BeginResult,
        Call,
        EndCompensation,
        EngineActivities,
        FinishExecution,
        LoopSoFar,
        MigrateExecution,
        ParkStep,
        RecordStep,
        ResolveParkedStep,
        ResumeExecution,
        ResumeResult,
        SendReminder,
        StartCompensationStep,
        StepResult,
    )

C = TypeVar("C", bound=Call)
R = TypeVar("R", bound=BaseModel)
Activity = Callable[[EngineActivities, C], R]
Outcome = Literal["completed", "failed", "cancelled", "timed_out"]
Cause = Literal["failed", "cancelled", "timed_out"]

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
# Saga compensation: completed steps that declare `compensate` are remembered, and undone when
# the execution fails, times out or is cancelled. Asked when such a step first completes, which
# no history from before it has (no definition could declare `compensate` then).
COMPENSATION_PATCH = "saga-compensation"
# Per-step error policy: a step's `on_failure` other than `fail` (continue, go to a step, park).
# Asked when such a step fails, which no history from before it has.
ERROR_POLICY_PATCH = "step-error-policy"
# A retried run (POST /executions/{id}/retry, `ExecutionInput.retry`) takes up a failed
# execution instead of beginning one. Asked when such a run starts, which no older history is.
RETRY_PATCH = "execution-retry"
# Moving a waiting execution to another version of its definition (the `migrate` update).
# Asked when a move is accepted, which no older history has; the waits' conditions only gain
# a term that is false until then.
MIGRATION_PATCH = "execution-migration"
# Search attributes kept current as the execution moves (`Engine.index`): each change of status,
# contact or definition version upserts, which adds a command to the history. Asked at the first
# change of a run whose start carried the attributes, which no older history did.
SEARCH_ATTRIBUTES_PATCH = "search-attributes"
# A delay's deadline carried by a move survives a continue-as-new due right after the move: the
# moved step starts in the run that moved (`should_continue_as_new`). Histories from before it
# continued as new there, and their new run waited the new step's whole delay.
MOVED_DEADLINE_PATCH = "moved-deadline-starts-before-continue-as-new"
# A parked for_each retried by an admin (POST /executions/{id}/steps/{loop}/retry) goes on at
# the iteration that failed instead of its first item. Asked when such a retry is answered;
# a history from before it replays the loop from its first item, as it ran.
LOOP_RESUME_PATCH = "loop-resumes-where-it-failed"


class StepMoved(Exception):  # noqa: N818 - a control-flow signal, not an error to report
    """The wait the current step is in goes on in another version's step (see `Engine.move`)."""


@dataclass(frozen=True)
class Move:
    """An accepted `migrate` update, for the run loop to carry out at the wait it interrupts."""

    request: MigrationRequest
    from_step: str
    to_step: str


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


def with_step_retry(policy: RetryPolicy, retry: dict[str, Any]) -> RetryPolicy:
    """The step's own `retry` ({attempts, backoff_seconds, backoff_coefficient,
    max_backoff_seconds}) in place of its type's attempts and backoff; what its type never
    retries (a 4xx, a refusal) still fails at once."""
    backoff = float(retry.get("backoff_seconds") or 1.0)
    most = retry.get("max_backoff_seconds")
    return RetryPolicy(
        initial_interval=timedelta(seconds=backoff),
        backoff_coefficient=float(retry.get("backoff_coefficient") or 2.0),
        maximum_interval=timedelta(seconds=float(most) if most else max(backoff * 16, 60.0)),
        maximum_attempts=int(retry["attempts"]),
        non_retryable_error_types=policy.non_retryable_error_types,
    )


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
        self._status = "running" if self.state.begun else "pending"
        # Whether this run keeps its search attributes current, asked at the first change
        # (`index`), and the values it last gave them.
        self._indexing: bool | None = None
        self._indexed: dict[str, Any] = {}
        self.current_step_id: str | None = self.state.next_step_id if self.state.begun else None
        self.waiting: Wait | None = None
        self._batching: bool | None = None
        self.compensating = False
        self.parked: str | None = None  # the id of the step waiting for an admin
        self._parked_action: ParkedStepAction | None = None
        self._reminder_tasks: dict[str, asyncio.Task[None]] = {}
        self._reminders_in_flight = 0
        # The sequences of the container step now running (for the `state` query).
        self.branches: list[ScopeEngine] = []
        # Set on a branch of a parallel step that is no longer needed: it stops at its next
        # step or wait (see steps/parallel.py); never on the execution's own engine.
        self.stopping = False
        # A move to another version accepted and not yet carried out, and its answer once it is.
        self.migration: Move | None = None
        self.migration_answer: MigrationAnswer | None = None
        # A delay's deadline carried over by a move (step id, until): the new step keeps it.
        self.carried_deadline: tuple[str, datetime] | None = None
        # A retry from a for_each the execution failed in: the iterations that completed, for
        # the loop to go on after them (steps/for_each.py); used by the loop's next start.
        self.resumed_loop: LoopSoFar | None = None
        # The for_each that failed last, with its completed iterations: what a parked loop
        # retried by an admin goes on from (workflows/execution.py `_after_failure`).
        self.failed_loop: LoopSoFar | None = None

    # -- status and search attributes ------------------------------------------------------

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value
        self.index()

    def index(self) -> None:
        """Bring the workflow's search attributes up to date: BytedashStatus (as the `state`
        query tells it: a parallel step whose every running branch waits is `waiting`),
        ContactId once the trigger has a contact, DefinitionVersion after a move.

        Only a run whose start carried them upserts (`start_indexed` starts without them on a
        server that lacks them, and the server would refuse the upsert), and only under
        `SEARCH_ATTRIBUTES_PATCH`, so histories from before replay. Unchanged values are not
        upserted again: a history gains a command per change, not per step."""
        if self._indexing is None:
            attributes = workflow.info().typed_search_attributes
            self._indexing = attributes.get(SEARCH_ORG_ID) is not None and workflow.patched(
                SEARCH_ATTRIBUTES_PATCH
            )
            self._indexed = {
                key.name: attributes.get(key)
                for key in (SEARCH_STATUS, SEARCH_CONTACT_ID, SEARCH_DEFINITION_VERSION)
            }
        if not self._indexing or self._status == "pending":
            return
        status = self._status
        running = [branch for branch in self.branches if not branch.ended]
        # A branch's status says it waits before its `waiting` is set.
        if status == "running" and running and all(b.status == "waiting" for b in running):
            status = "waiting"
        wanted: list[tuple[Any, Any]] = [
            (SEARCH_STATUS, status),
            (SEARCH_CONTACT_ID, self.state.contact_id),
            (SEARCH_DEFINITION_VERSION, self.input.definition_version),
        ]
        changed = [
            (key, value)
            for key, value in wanted
            if value is not None and self._indexed.get(key.name) != value
        ]
        if not changed:
            return
        for key, value in changed:
            self._indexed[key.name] = value
        workflow.upsert_search_attributes([key.value_set(value) for key, value in changed])

    # -- identities ------------------------------------------------------------------------

    def ref(self, step: Step) -> StepRef:
        """How the timeline names the step (a branch's steps say which branch they are in)."""
        return step_ref(step)

    def key(self, step: Step, what: str) -> str:
        """The command key of one call: unique per visit of a step, stable across replays."""
        return self.run_key(f"{step.id}/{what}")

    def run_key(self, what: str) -> str:
        """`<visit>-<what>`; in a retried execution under `retry-<n>/`, since every attempt
        runs under the same workflow id (the first attempt's keys are unchanged)."""
        key = f"{self.state.step_seq}-{what}"
        return f"retry-{self.state.retries}/{key}" if self.state.retries else key

    def base(self, step: Step, what: str, *, carry: bool = True) -> dict[str, Any]:
        """The fields every step call carries: with `carry`, the steps still to record (a call
        that reaches outside carries none, see `flush`)."""
        return {
            "meta": self.input.meta,
            "execution_id": self.input.execution_id,
            "command_key": self.key(step, what),
            "step": self.ref(step),
            "before": list(self.state.pending) if carry else [],
        }

    def follow(self, step: Step) -> str:
        """Where the run goes after `step` when nothing jumps: its `next`, or the next step (a
        compensation is not in the run order: nothing follows it)."""
        if self.compensating:
            return END
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
            nested = step_type(step.type).nested
        except KeyError:
            nested = ()
        # The steps a container holds render their own templates when they run.
        own = {k: v for k, v in step.config.items() if k not in nested} if nested else step.config
        try:
            rendered: dict[str, Any] = render_value(own, self.template_context(), workflow.now())
        except (TemplateResolutionError, TemplateSyntaxError) as error:
            raise StepHalt("failed", describe(step, error.message)) from None
        for key in nested:
            if key in step.config:
                rendered[key] = step.config[key]
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
        records them first. A step's own `retry` replaces `retry`, and `window` then no longer
        bounds it: its attempts do."""
        if step.retry is not None:
            retry, window = with_step_retry(retry, step.retry), None
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
        error: str | None = None,
    ) -> dict[str, Any]:
        """Record that the step started (if not yet) and waits, completed with `output`, or
        failed with `error`."""
        call = RecordStep(**self.base(step, what), output=output, wait=wait, error=error)
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
            StepDone(step=self.ref(step), at=workflow.now(), output=output, ui_status=ui_status)
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

        Returns False on timeout. The deadline is a durable Temporal timer. A branch that is
        asked to stop meanwhile stops waiting (cancelled).
        """
        await self.record_step(step, "wait", wait=wait)
        self.status = "waiting"
        self.waiting = wait
        timeout = None if wait.until is None else wait.until - workflow.now()
        try:
            await workflow.wait_condition(
                lambda: self.stopping or self.moving or condition(), timeout=timeout
            )
        except TimeoutError:
            return False
        if self.stopping:
            raise asyncio.CancelledError("the branch is no longer needed")
        self.check_moved()
        return True

    # -- moving to another version (the `migrate` update) ------------------------------------

    @property
    def moving(self) -> bool:
        """Whether an accepted move waits to be carried out (a wait ends for it)."""
        return self.migration is not None

    def check_moved(self) -> None:
        """Leave the current wait when a move was accepted meanwhile (see `move`)."""
        if self.migration is not None:
            raise StepMoved()

    def deadline_carried(self, step: Step) -> datetime | None:
        """The deadline a move carried over to `step` (a delay keeps its end), once."""
        carried, self.carried_deadline = self.carried_deadline, None
        return carried[1] if carried is not None and carried[0] == step.id else None

    def migration_problem(self, request: MigrationRequest) -> tuple[str | None, str | None]:
        """Where the execution would go on in `request`'s version, ``(step, None)``, or
        ``(None, why it cannot move now)``: only a wait of its own run order (a task, a signal,
        a delay) is a safe point, never a call half-made or a container's branches."""
        version = request.definition_version
        if version == self.input.definition_version:
            return None, f"it already runs version {version}."
        if self.migration is not None:
            return None, "another move of it is under way."
        if self.compensating or self.parked is not None:
            return None, f"not at a safe point: it is {self.status}."
        current = self.current_step_id
        if self.status != "waiting" or self.waiting is None or current is None:
            at = f" in step {current!r}" if current is not None else ""
            return None, (
                f"not at a safe point: it is {self.status}{at}, not waiting on a task, a "
                "signal or a delay."
            )
        target = ordered(Definition.from_dict(request.definition))
        return migration_target(
            self.definition,
            target,
            current,
            request.step_mapping,
            target_version=version,
            undoable=self.state.compensations,
        )

    def accept_migration(self, request: MigrationRequest, to_step: str) -> bool:
        """Keep an accepted move for the run loop; its wait ends at once (`StepMoved`). False
        (nothing kept) only when replaying a history from before moves existed."""
        if not workflow.patched(MIGRATION_PATCH):
            return False
        assert self.current_step_id is not None
        self.migration_answer = None
        self.migration = Move(request, self.current_step_id, to_step)
        return True

    def answer_migration(self, from_version: int, reason: str | None = None) -> None:
        """The move is over: carried out (no `reason`), or not, and why."""
        move = self.migration
        assert move is not None
        self.migration = None
        self.migration_answer = MigrationAnswer(
            moved=reason is None,
            reason=reason,
            from_version=from_version,
            definition_version=move.request.definition_version,
            from_step=move.from_step,
            to_step=move.to_step if reason is None else None,
        )

    async def move(self, step: Step) -> str:
        """Carry out the accepted move, out of the wait of `step`: record it (the event's actor
        is who asked), then hold the new version's definition from now on (continue-as-new
        carries it), give the mapped steps the outputs and tasks of the old ones, and go on in
        the mapped step: a task wait keeps its task, a delay its deadline, a signal wait its
        signals. Returns the step to run next (the same one when the move was not recorded)."""
        move = self.migration
        assert move is not None
        request = move.request
        call = MigrateExecution(
            **{**self.base(step, "migrate"), "meta": request.meta},
            to_step=move.to_step,
            definition_version=request.definition_version,
            step_mapping=request.step_mapping,
            requested_by=request.meta.actor,
        )
        try:
            await self.record(EngineActivities.migrate_execution, call)
        except FailureError as failure:
            if not failed_for_good(failure):
                raise
            problem = activity_problem(failure, RECORD_RETRY.maximum_attempts)
            reason = f"the move could not be recorded: {problem}"
            self.answer_migration(self.input.definition_version, reason)
            return step.id
        waiting = self.waiting
        from_version = self.input.definition_version
        self.input = self.input.model_copy(
            update={
                "definition": dict(request.definition),
                "definition_version": request.definition_version,
            }
        )
        self.definition = ordered(Definition.from_dict(request.definition))
        state = self.state
        for old, new in request.step_mapping.items():
            if old != new and old in state.outputs:
                state.outputs[new] = state.outputs[old]
            if old != new and old in state.step_tasks:
                state.step_tasks[new] = state.step_tasks[old]
        state.compensations = [request.step_mapping.get(c, c) for c in state.compensations]
        to = self.definition.step(move.to_step)
        source = to.config.get("task_from_step")
        if waiting is not None and waiting.task_id is not None and isinstance(source, str):
            state.step_tasks[source] = waiting.task_id
        if to.type == "delay" and waiting is not None and waiting.until is not None:
            self.carried_deadline = (to.id, waiting.until)
        self.status = "running"
        self.waiting = None
        self.answer_migration(from_version)
        return to.id

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

    async def resume(self, retry: RetryRequest) -> None:
        """Take up a failed or timed-out execution again from `retry.from_step`: record the
        retry (who asked, why), then carry on with the state the store has for it: its
        contact, ui_status, the latest output of each step it completed (for templates), the
        tasks its steps assigned, and the completed steps that say how to undo them. A retry
        the store refuses (the execution is not failed or timed out any more) ends this run
        with that refusal, and the execution is left as it is."""
        if not workflow.patched(RETRY_PATCH):  # only ever False replaying a history without it
            raise ApplicationError(
                "This run's history predates retries; it cannot take up an execution.",
                type="RetryNotRecorded",
                non_retryable=True,
            )
        step = self.step_named(retry.from_step)
        if step is None or step.id == self.definition.trigger.id:
            raise ApplicationError(
                f"An execution cannot be retried from {retry.from_step!r}: it is not a step "
                "of the execution's run order.",
                type="InvalidValue",
                non_retryable=True,
            )
        call = ResumeExecution(
            meta=self.input.meta,
            execution_id=self.input.execution_id,
            command_key=f"retry/{workflow.info().run_id}",
            step=step_ref(step),
            requested_by=retry.actor,
            reason=retry.reason,
            workflow_run_id=workflow.info().run_id,
        )
        try:
            result: ResumeResult = await self.record(EngineActivities.resume_execution, call)
        except FailureError as failure:
            if not failed_for_good(failure):
                raise
            cause = failure.cause if isinstance(failure, ActivityError) else failure
            kind = cause.type if isinstance(cause, ApplicationError) else None
            raise ApplicationError(
                f"The retry could not be recorded: {activity_problem(failure)}",
                type=kind if kind in REFUSAL_TYPES else "RetryNotRecorded",
                non_retryable=True,
            ) from None
        state = self.state
        state.begun = True
        state.retries = result.attempt
        state.contact_id = result.contact_id
        state.contact = result.contact
        state.ui_status = result.ui_status
        state.outputs = result.outputs
        for task in result.tasks:
            self.learn_task(task)
            state.step_tasks[task.step_id] = task.task_id
        state.reminder_counts = result.reminder_counts
        self.resumed_loop = result.loop
        if workflow.patched(COMPENSATION_PATCH):
            for step_id in result.completed:
                done = self.any_step(step_id)
                if done is not None and done.compensate:
                    state.compensations.append(step_id)
        state.next_step_id = step.id
        self.status = "running"
        self.current_step_id = step.id

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
            command_key=self.run_key("finish"),
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

    # -- error policy --------------------------------------------------------------------------

    def error_policy(self, step: Step, halt: StepHalt) -> str | None:
        """The step's `on_failure` when it applies to this halt (a failure, not a timeout, and
        not `fail`, which ends the execution as before); None otherwise."""
        policy = step.on_failure
        if halt.outcome != "failed" or policy in (None, "fail"):
            return None
        return policy if workflow.patched(ERROR_POLICY_PATCH) else None

    async def fail_step(self, step: Step, error: str) -> None:
        """Record that the step failed (`on_failure`: continue or go to a step); later
        templates read `{{<step id>.failed}}` and `.error`."""
        await self.record_step(step, "failed", error=error)
        self.state.outputs[step.id] = {"failed": True, "error": error}
        self.status = "running"

    async def park(self, step: Step, error: str) -> ParkedStepAction | None:
        """Record that the step failed and waits for an admin, then wait (as long as it takes)
        for the `parked_step` signal and record who asked what. None when parking could not
        be recorded."""
        call = ParkStep(**self.base(step, "park"), error=error)
        try:
            await self.record(EngineActivities.park_step, call)
        except FailureError as failure:
            if not failed_for_good(failure):
                raise
            return None
        self.status = "needs_attention"
        self.parked = step.id
        await workflow.wait_condition(lambda: self._parked_action is not None)
        action = self._parked_action
        assert action is not None
        self._parked_action = None
        self.parked = None
        resolve = ResolveParkedStep(
            **self.base(step, action.action),
            action=action.action,
            requested_by=action.actor,
            reason=action.reason,
        )
        await self.step_call(step, EngineActivities.resolve_parked_step, resolve)
        self.status = "running"
        if action.action == "skip":
            self.state.outputs[step.id] = {"skipped": True, "error": error}
        return action

    def parked_step_action(self, action: ParkedStepAction) -> None:
        """The admin's answer, kept only if the execution is parked on that step and has no
        answer yet (the API checks the read model first; this settles a race)."""
        if self.parked != action.step_id or self._parked_action is not None:
            workflow.logger.warning(
                "parked_step signal ignored",
                extra={"step_id": action.step_id, "parked": self.parked},
            )
            return
        self._parked_action = action

    # -- saga compensation -----------------------------------------------------------------

    def completed(self, step: Step) -> None:
        """The step ran to its end: when it declares how to undo it, remember it (in order)."""
        if step.compensate and workflow.patched(COMPENSATION_PATCH):
            self.state.compensations.append(step.id)

    @property
    def compensations_due(self) -> bool:
        return bool(self.state.compensations)

    async def begin_compensation(
        self, cause: Cause, *, step: Step | None, error: str, cancelled_by: str | None = None
    ) -> str | None:
        """Record that compensation begins (with the steps still pending, and the failed step
        closed with `error`); None, or why it could not be recorded."""
        self.stop_reminders()
        self.compensating = True
        self.status = "compensating"
        self.waiting = None
        call = BeginCompensation(
            meta=self.input.meta,
            execution_id=self.input.execution_id,
            command_key=self.run_key("compensate"),
            before=list(self.state.pending),
            cause=cause,
            step=None if step is None else step_ref(step),
            error=error,
            cancelled_by=cancelled_by,
        )
        try:
            await self.record(EngineActivities.begin_compensation, call)
        except FailureError as failure:
            if not failed_for_good(failure):
                raise
            self.compensating = False
            return activity_problem(failure, RECORD_RETRY.maximum_attempts)
        return None

    async def start_compensation(self, owner_id: str, compensation: Step) -> None:
        """Record that `compensation` starts, marked as undoing the step `owner_id`; its
        refusal fails it."""
        call = StartCompensationStep(
            **self.base(compensation, "compensate"), compensation_of=owner_id
        )
        await self.step_call(compensation, EngineActivities.start_compensation_step, call)

    async def fail_compensation(self, compensation: Step, error: str) -> None:
        """Record that `compensation` failed for good; if even that cannot be recorded, the
        end of compensation still names it (see `end_compensation`)."""
        try:
            await self.record_step(compensation, "failed", output=None, error=error)
        except StepHalt:
            workflow.logger.warning(
                "compensation failure not recorded", extra={"step_id": compensation.id}
            )

    async def end_compensation(
        self,
        cause: Cause,
        *,
        step: Step | None,
        error: str,
        failures: list[dict[str, Any]],
    ) -> ExecutionResult:
        """End the execution `compensated`, or `compensation_failed` naming each failure; a
        cancelled one cancels its open tasks too. Waits out the database however long it
        takes (without the steps it carried, if those are what it cannot save)."""
        outcome: Literal["compensated", "compensation_failed"] = (
            "compensation_failed" if failures else "compensated"
        )
        call = EndCompensation(
            meta=self.input.meta,
            execution_id=self.input.execution_id,
            command_key=self.run_key("compensated"),
            before=list(self.state.pending),
            failures=failures,
            cancel_task_ids=self.open_task_ids() if cause == "cancelled" else [],
        )
        try:
            await self.record(EngineActivities.end_compensation, call)
        except FailureError as failure:
            if not failed_for_good(failure):
                raise
            await self.record(
                EngineActivities.end_compensation, call.model_copy(update={"before": []}), last=True
            )
            self.state.pending = []
        if failures:
            said = "; ".join(f"{f['step_id']}: {f['error']}" for f in failures)
            error = f"{error}; compensation failed ({said})"
        self.status = outcome
        self.current_step_id = None
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

    def any_step(self, step_id: str) -> Step | None:
        """A step of the definition's own sequence or one inside a container (a completed
        branch step's compensations are undone like any other's)."""
        try:
            return self.definition.find(step_id)
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
        due = (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.input.history_limit
        )
        if due and self.carried_deadline is not None and workflow.patched(MOVED_DEADLINE_PATCH):
            # A move carried a delay's deadline to the step about to start; it lives in this
            # run only, so the step starts (and records its wait) before the run hands over.
            return False
        return due

    async def continue_as_new(self) -> None:
        """Hand the state to a fresh run: between steps, with no reminder half-sent."""
        await self.reminders_settled()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.state.runs += 1
        workflow.continue_as_new(self.input.model_copy(update={"state": self.state}))


class ScopeEngine(Engine):
    """The engine of a sequence inside a container step (a parallel step's branch, one
    iteration of a for_each): it runs its steps on the execution's own state (outputs, tasks,
    signals, compensations, the visit counter that keys its calls), with a place of its own
    (its current step, what it waits for) and its own sequence (`follow` stays in it).
    Reminders are the execution's."""

    def __init__(self, root: Engine, container: Step, branch: Branch) -> None:
        # Not Engine.__init__: everything but the sequence's place is the root's.
        self.root = root
        self.container = container
        self.branch = branch
        self.input = root.input
        self.definition = root.definition
        self.state = root.state
        self.status = "running"
        self.current_step_id = None
        self.waiting = None
        self._batching = None  # the root's (asked when first needed, as the root asks it)
        self.compensating = False
        self.parked = None
        self._parked_action = None
        self._reminder_tasks = root._reminder_tasks
        self._reminders_in_flight = 0
        self.branches = []
        self.stopping = False
        self.migration = None  # a move is the execution's, never a branch's
        self.migration_answer = None
        self.carried_deadline = None
        self._ended = False  # ran to its end (not failed, not cancelled)
        self.iteration: int | None = None

    def index(self) -> None:
        """A sequence's status is part of the execution's (its waits make a parallel step
        wait): the root indexes."""
        self.root.index()

    @property
    def ended(self) -> bool:
        return self._ended

    @ended.setter
    def ended(self, value: bool) -> None:
        # The branches left may all wait: the execution waits.
        self._ended = value
        self.index()

    def within(self) -> dict[str, Any]:
        """Where the sequence's steps run, as their timeline entries say."""
        return {"step_id": self.container.id, "branch": self.branch.name}

    def ref(self, step: Step) -> StepRef:
        return StepRef(step.id, step.type, step.name, within=self.within())

    @property
    def batching(self) -> bool:
        return self.root.batching if self._batching is None else self._batching

    def follow(self, step: Step) -> str:
        return self.branch.next_step_id(step.id)

    def schedule_reminder(self, reminder: PendingReminder) -> None:
        self.root.schedule_reminder(reminder)


class BranchEngine(ScopeEngine):
    """One branch of a parallel step. Its steps record at once rather than with the next call:
    branches call at the same time, and the pending list of one would be carried by another's
    call."""

    def __init__(self, root: Engine, container: Step, branch: Branch) -> None:
        super().__init__(root, container, branch)
        self._batching = False

    def base(self, step: Step, what: str, *, carry: bool = True) -> dict[str, Any]:
        return super().base(step, what, carry=False)


# The largest item a timeline entry repeats (as JSON); a larger one is left out of `within`
# (the iteration's index says which it was).
SHOWN_ITEM_CHARS = 500


class LoopEngine(ScopeEngine):
    """One iteration of a for_each step: its steps read the item as `{{loop.item}}` (and
    `{{loop.index}}`, from 0, `{{loop.count}}`); they run one after the other, so they record
    with the next call's save as the execution's own steps do."""

    def __init__(
        self, root: Engine, container: Step, branch: Branch, index: int, item: Any, count: int
    ) -> None:
        super().__init__(root, container, branch)
        self.iteration = index
        self.item = item
        self.count = count

    def within(self) -> dict[str, Any]:
        within: dict[str, Any] = {"step_id": self.container.id, "iteration": self.iteration}
        if len(json.dumps(self.item, default=str)) <= SHOWN_ITEM_CHARS:
            within["item"] = self.item
        return within

    def template_context(self) -> dict[str, Any]:
        context = super().template_context()
        context["loop"] = {"item": self.item, "index": self.iteration, "count": self.count}
        return context


__all__ = [
    "END",
    "LOOP_RESUME_PATCH",
    "BranchEngine",
    "Engine",
    "LoopEngine",
    "ScopeEngine",
    "StepHalt",
    "StepMoved",
    "describe",
    "step_ref",
]
