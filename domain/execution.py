"""The WorkflowExecution aggregate: one run of one definition version, as a timeline of facts.

The Temporal workflow drives the run; this aggregate is its auditable record. Every step start,
wait, outcome and outbound side effect (email, HTTP call, reminder) is an event carrying what a
timeline needs, so the execution's history can be read (and rebuilt) without Temporal. The state
machine refuses anything after a terminal state, which turns a confused or duplicated command from
the engine into an error instead of a rewritten past.

The state keeps references to its events' payloads (outputs, waits, input) instead of copies:
events are immutable facts, nothing here mutates them, and copying every output on every apply
cost more than the rest of recording a step. The getters hand out copies, so no caller can
change the aggregate through them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.definition_model import STEP_TYPES
from domain.errors import InvalidTransitionError, InvalidValueError
from domain.values import (
    id_text,
    iso,
    json_object,
    optional_id_text,
    optional_text,
    required_text,
    utc,
)

PENDING = "pending"
RUNNING = "running"
WAITING = "waiting"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
# Saga compensation (docs/engine.md): a failed, timed-out or cancelled execution whose completed
# steps declare `compensate` is `compensating` while their compensations run, then ends
# `compensated`, or `compensation_failed` when one of them failed.
COMPENSATING = "compensating"
COMPENSATED = "compensated"
COMPENSATION_FAILED = "compensation_failed"
# A step whose `on_failure` is `park` failed: the execution waits for an admin to retry or skip
# it (POST /executions/{id}/steps/{step_id}/retry | skip).
NEEDS_ATTENTION = "needs_attention"
STATES = (
    PENDING,
    RUNNING,
    WAITING,
    COMPLETED,
    FAILED,
    CANCELLED,
    TIMED_OUT,
    COMPENSATING,
    COMPENSATED,
    COMPENSATION_FAILED,
    NEEDS_ATTENTION,
)
TERMINAL_STATES = (COMPLETED, FAILED, CANCELLED, TIMED_OUT, COMPENSATED, COMPENSATION_FAILED)
# Why compensation began: how the execution would have ended without it.
COMPENSATION_CAUSES = (FAILED, TIMED_OUT, CANCELLED)
WAITING_FOR = ("task", "signal", "delay", "reminder")

STEP_STARTED = "started"
STEP_WAITING = "waiting"
STEP_COMPLETED = "completed"
STEP_FAILED = "failed"
STEP_NEEDS_ATTENTION = "needs_attention"
STEP_SKIPPED = "skipped"
STEP_CANCELLED = "cancelled"
# The step an execution waited in when it moved to another version of its definition; the
# wait goes on in the new version's step (an entry of its own).
STEP_MIGRATED = "migrated"
PARKED_ACTIONS = ("retry", "skip")
# What a retry (POST /executions/{id}/retry) may start again: an execution that ended on a step
# that failed or timed out. Compensated ones undid their steps, cancelled ones were stopped on
# purpose, and the others have not ended (or ended well).
RETRYABLE_STATES = (FAILED, TIMED_OUT)
_OPEN_STEP_STATES = (STEP_STARTED, STEP_WAITING)


class WorkflowExecution(Aggregate):
    """One execution; `status` is the engine's state, `ui_status` the definition's own label."""

    personal_owner: ClassVar[str] = "contact_id"

    class Created(Aggregate.Created):
        personal_data: ClassVar[tuple[str, ...]] = ("input", "trigger")
        org_id: str
        definition_id: str
        definition_version: int
        contact_id: str | None
        input: dict[str, Any]
        workflow_id: str
        trigger: dict[str, Any]

    class Started(Aggregate.Event):
        workflow_run_id: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._status = RUNNING
            aggregate._workflow_run_id = self.workflow_run_id
            aggregate._started_at = self.timestamp.isoformat()

    class StepStarted(Aggregate.Event):
        step_id: str
        step_type: str
        step_name: str
        # A step inside a container step: {"step_id": <the container>, "branch": <name>};
        # None (and absent from events recorded before containers existed) otherwise.
        within: dict[str, Any] | None = None

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._resume_running()
            aggregate._current_step_id = self.step_id
            aggregate._waiting = None
            entry: dict[str, Any] = {
                "step_id": self.step_id,
                "step_type": self.step_type,
                "step_name": self.step_name,
                "status": STEP_STARTED,
                "started_at": self.timestamp.isoformat(),
                "completed_at": None,
                "output": None,
                "error": None,
                "waiting_for": None,
                "until": None,
            }
            if self.within is not None:
                entry["within"] = self.within
            aggregate._history.append(entry)

    class StepCancelled(Aggregate.Event):
        """A step still open when the run stopped needing it: a branch of a parallel step
        that another branch's end or failure cancelled, or that the execution's cancel
        reached; `reason` says which."""

        step_id: str
        reason: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._resume_running()
            if aggregate._waiting is not None and aggregate._waiting["step_id"] == self.step_id:
                aggregate._waiting = None
            entry = aggregate._open_entry(self.step_id)
            if entry is not None:
                entry.update(
                    status=STEP_CANCELLED,
                    completed_at=self.timestamp.isoformat(),
                    error=self.reason,
                )

    class StepParked(Aggregate.Event):
        """The step failed and its `on_failure` is `park`: the execution needs attention."""

        personal_data: ClassVar[tuple[str, ...]] = ("error",)

        step_id: str
        error: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._status = NEEDS_ATTENTION
            aggregate._waiting = None
            aggregate._current_step_id = self.step_id
            entry = aggregate._open_entry(self.step_id)
            if entry is not None:
                entry.update(
                    status=STEP_NEEDS_ATTENTION,
                    completed_at=self.timestamp.isoformat(),
                    error=self.error,
                )

    class ParkedStepResolved(Aggregate.Event):
        """Someone (`requested_by`) chose what becomes of the parked step: `retry` (it runs
        again, as a new entry) or `skip` (the run goes on after it)."""

        step_id: str
        action: str
        requested_by: str | None
        reason: str | None

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._status = RUNNING
            entry = aggregate._parked_entry(self.step_id)
            if entry is not None:
                entry.update(
                    status=STEP_SKIPPED if self.action == "skip" else STEP_FAILED,
                    resolution={
                        "action": self.action,
                        "requested_by": self.requested_by,
                        "reason": self.reason,
                        "at": self.timestamp.isoformat(),
                    },
                )

    class Retried(Aggregate.Event):
        """A failed or timed-out execution runs again from `from_step` (`step_type`,
        `step_name`), on the same definition version, with its contact and the outputs of the
        steps it completed; `requested_by` asked, `reason` says why. `attempt` counts the
        retries (1 for the first), `workflow_run_id` is the Temporal run that carries it on,
        and `previous_status` / `previous_error` keep how the execution had ended."""

        personal_data: ClassVar[tuple[str, ...]] = ("previous_error",)

        from_step: str
        step_type: str
        step_name: str
        requested_by: str | None
        reason: str | None
        attempt: int
        workflow_run_id: str
        previous_status: str
        previous_error: str | None

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._status = RUNNING
            aggregate._current_step_id = self.from_step
            aggregate._waiting = None
            aggregate._error = None
            aggregate._output = None
            aggregate._finished_at = None
            aggregate._workflow_run_id = self.workflow_run_id
            aggregate._retries = self.attempt

    class Migrated(Aggregate.Event):
        """The execution moved from version `from_version` to `definition_version` of its
        definition while it waited in `step_id`, which it leaves (`migrated`); the wait goes
        on in `to_step` of the new version. `step_mapping` is the mapping asked for (old step
        id -> new), `requested_by` who asked."""

        step_id: str
        to_step: str
        from_version: int
        definition_version: int
        step_mapping: dict[str, str]
        requested_by: str | None

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._definition_version = self.definition_version
            aggregate._status = RUNNING
            aggregate._waiting = None
            aggregate._current_step_id = self.to_step
            entry = aggregate._open_entry(self.step_id)
            if entry is not None:
                entry.update(status=STEP_MIGRATED, completed_at=self.timestamp.isoformat())

    class CompensationStarted(Aggregate.Event):
        """Compensation begins: the step `step_id` (if any) failed or timed out with `reason`,
        or the execution was cancelled (`cause`), and completed steps declare how to undo them."""

        cause: str
        step_id: str | None
        reason: str
        cancelled_by: str | None

        def apply(self, aggregate: WorkflowExecution) -> None:
            if self.step_id is not None:
                aggregate._close_step(self.step_id, self.reason, self.timestamp)
            aggregate._status = COMPENSATING
            aggregate._waiting = None
            aggregate._error = self.reason

    class CompensationStepStarted(Aggregate.Event):
        """A step that undoes the completed step `compensation_of` starts; it completes or
        fails like any step (StepCompleted, StepFailed)."""

        step_id: str
        step_type: str
        step_name: str
        compensation_of: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._current_step_id = self.step_id
            aggregate._history.append(
                {
                    "step_id": self.step_id,
                    "step_type": self.step_type,
                    "step_name": self.step_name,
                    "status": STEP_STARTED,
                    "started_at": self.timestamp.isoformat(),
                    "completed_at": None,
                    "output": None,
                    "error": None,
                    "waiting_for": None,
                    "until": None,
                    "compensation_of": self.compensation_of,
                }
            )

    class Compensated(Aggregate.Event):
        """Every compensation ran: the execution ends `compensated`."""

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._finish(COMPENSATED, self.timestamp)

    class CompensationFailed(Aggregate.Event):
        """At least one compensation failed for good (each still ran): `failures` says which
        (step_id, compensation_of, error); the execution ends `compensation_failed`."""

        personal_data: ClassVar[tuple[str, ...]] = ("failures", "error")

        failures: list[dict[str, Any]]
        error: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._finish(COMPENSATION_FAILED, self.timestamp)
            aggregate._error = self.error

    class StepCompleted(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("output",)
        step_id: str
        output: dict[str, Any]

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._resume_running()
            aggregate._waiting = None
            aggregate._outputs[self.step_id] = self.output
            entry = aggregate._open_entry(self.step_id)
            if entry is not None:
                entry.update(
                    status=STEP_COMPLETED,
                    completed_at=self.timestamp.isoformat(),
                    output=self.output,
                )

    class StepFailed(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("error",)
        step_id: str
        error: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._resume_running()
            aggregate._waiting = None
            aggregate._close_step(self.step_id, self.error, self.timestamp)

    class Waiting(Aggregate.Event):
        step_id: str
        waiting_for: str
        until: str | None
        detail: dict[str, Any]

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._status = WAITING
            aggregate._waiting = {
                "step_id": self.step_id,
                "waiting_for": self.waiting_for,
                "until": self.until,
                "detail": self.detail,
            }
            entry = aggregate._open_entry(self.step_id)
            if entry is not None:
                entry.update(status=STEP_WAITING, waiting_for=self.waiting_for, until=self.until)

    class UiStatusChanged(Aggregate.Event):
        step_id: str | None
        old_ui_status: str | None
        new_ui_status: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._ui_status = self.new_ui_status

    class ReminderSent(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("recipient", "message")
        step_id: str
        task_id: str | None
        recipient: str
        count: int
        message: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._reminders_sent[self.step_id] = self.count

    class EmailSent(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("to", "subject", "error")
        step_id: str
        to: list[str]
        subject: str
        delivered: bool
        message_id: str | None
        error: str | None

    class HttpRequestMade(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("url", "error")
        step_id: str
        method: str
        url: str
        status_code: int | None
        duration_ms: float
        error: str | None

    class Completed(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("output",)
        output: dict[str, Any]

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._finish(COMPLETED, self.timestamp)
            aggregate._output = self.output

    class Failed(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("error",)
        step_id: str | None
        error: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            if self.step_id is not None:
                aggregate._close_step(self.step_id, self.error, self.timestamp)
            aggregate._finish(FAILED, self.timestamp)
            aggregate._error = self.error

    class Cancelled(Aggregate.Event):
        reason: str
        cancelled_by: str | None

        def apply(self, aggregate: WorkflowExecution) -> None:
            aggregate._finish(CANCELLED, self.timestamp)
            aggregate._error = self.reason

    class TimedOut(Aggregate.Event):
        step_id: str | None
        reason: str

        def apply(self, aggregate: WorkflowExecution) -> None:
            if self.step_id is not None:
                aggregate._close_step(self.step_id, self.reason, self.timestamp)
            aggregate._finish(TIMED_OUT, self.timestamp)
            aggregate._error = self.reason

    def __init__(
        self,
        *,
        org_id: str,
        definition_id: str,
        definition_version: int,
        contact_id: str | None,
        input: dict[str, Any],
        workflow_id: str,
        trigger: dict[str, Any],
    ) -> None:
        # Called with the Created event's attributes, both when created and when rebuilt.
        self._org_id = org_id
        self._definition_id = definition_id
        self._definition_version = definition_version
        self._contact_id = contact_id
        self._input: dict[str, Any] = input
        self._workflow_id = workflow_id
        self._trigger: dict[str, Any] = trigger
        self._status = PENDING
        self._ui_status: str | None = None
        self._workflow_run_id: str | None = None
        self._current_step_id: str | None = None
        self._history: list[dict[str, Any]] = []
        self._outputs: dict[str, dict[str, Any]] = {}
        self._waiting: dict[str, Any] | None = None
        self._reminders_sent: dict[str, int] = {}
        self._output: dict[str, Any] | None = None
        self._error: str | None = None
        self._started_at: str | None = None
        self._finished_at: str | None = None
        self._retries = 0

    # -- commands: lifecycle -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        execution_id: UUID,
        org_id: str,
        definition_id: str | UUID,
        definition_version: int,
        contact_id: str | UUID | None,
        input: Mapping[str, Any] | None,
        workflow_id: str,
        trigger: Mapping[str, Any] | None,
        at: datetime,
    ) -> WorkflowExecution:
        if not isinstance(execution_id, UUID):
            raise InvalidValueError(
                f"execution_id must be a UUID, not {execution_id!r}.", field="execution_id"
            )
        if (
            isinstance(definition_version, bool)
            or not isinstance(definition_version, int)
            or definition_version < 1
        ):
            raise InvalidValueError(
                f"definition_version must be a version number from 1 up, not "
                f"{definition_version!r}.",
                field="definition_version",
            )
        return cls._create(
            cls.Created,
            id=execution_id,
            timestamp=utc(at),
            org_id=id_text(org_id, field="org_id"),
            definition_id=id_text(definition_id, field="definition_id"),
            definition_version=definition_version,
            contact_id=optional_id_text(contact_id, field="contact_id"),
            input=json_object(input, field="input"),
            workflow_id=id_text(workflow_id, field="workflow_id"),
            trigger=json_object(trigger, field="trigger"),
        )

    def start(self, *, workflow_run_id: str, at: datetime) -> None:
        self._require_not_terminal()
        if self._status != PENDING:
            raise InvalidTransitionError(f"execution {self.id} already started.")
        timestamp = utc(at)
        self.trigger_event(
            self.Started,
            timestamp=timestamp,
            workflow_run_id=id_text(workflow_run_id, field="workflow_run_id"),
        )

    def complete(self, *, output: Mapping[str, Any] | None, at: datetime) -> None:
        self._require_started()
        timestamp = utc(at)
        self.trigger_event(
            self.Completed, timestamp=timestamp, output=json_object(output, field="output")
        )

    def fail(self, *, step_id: str | None, error: str, at: datetime) -> None:
        self._require_not_terminal()
        timestamp = utc(at)
        self.trigger_event(
            self.Failed,
            timestamp=timestamp,
            step_id=optional_id_text(step_id, field="step_id"),
            error=required_text(error, field="error"),
        )

    def cancel(self, *, reason: str, cancelled_by: str | None, at: datetime) -> None:
        self._require_not_terminal()
        timestamp = utc(at)
        self.trigger_event(
            self.Cancelled,
            timestamp=timestamp,
            reason=required_text(reason, field="reason"),
            cancelled_by=optional_text(cancelled_by, field="cancelled_by"),
        )

    def time_out(self, *, step_id: str | None, reason: str, at: datetime) -> None:
        self._require_not_terminal()
        timestamp = utc(at)
        self.trigger_event(
            self.TimedOut,
            timestamp=timestamp,
            step_id=optional_id_text(step_id, field="step_id"),
            reason=required_text(reason, field="reason"),
        )

    def retry(
        self,
        *,
        from_step: str,
        step_type: str,
        step_name: str,
        requested_by: str | None,
        reason: str | None,
        workflow_run_id: str,
        at: datetime,
    ) -> None:
        """Run a failed or timed-out execution again from `from_step` (see Retried); which
        steps may be retried from is the definition's business, checked by the caller."""
        if self._status not in RETRYABLE_STATES:
            why = (
                "its completed steps were undone (compensated), so running the rest would "
                "act on what was undone; start a new execution instead"
                if self._status == COMPENSATED
                else f"only a {' or '.join(RETRYABLE_STATES)} execution can be retried"
            )
            raise InvalidTransitionError(f"execution {self.id} is {self._status}: {why}.")
        if step_type not in STEP_TYPES:
            raise InvalidValueError(
                f"{step_type!r} is not a step type; use one of {', '.join(STEP_TYPES)}.",
                field="step_type",
            )
        self.trigger_event(
            self.Retried,
            timestamp=utc(at),
            from_step=id_text(from_step, field="from_step"),
            step_type=step_type,
            step_name=_text(step_name, field="step_name"),
            requested_by=optional_text(requested_by, field="requested_by"),
            reason=optional_text(reason, field="reason"),
            attempt=self._retries + 1,
            workflow_run_id=id_text(workflow_run_id, field="workflow_run_id"),
            previous_status=self._status,
            previous_error=self._error,
        )

    def migrate(
        self,
        *,
        step_id: str,
        to_step: str,
        definition_version: int,
        step_mapping: Mapping[str, str],
        requested_by: str | None,
        at: datetime,
    ) -> None:
        """Move the execution, waiting in `step_id`, to another version (see Migrated); the
        workflow has checked the versions' steps, this checks the execution's own state."""
        step = self._require_open_step(step_id)
        if (
            isinstance(definition_version, bool)
            or not isinstance(definition_version, int)
            or definition_version < 1
        ):
            raise InvalidValueError(
                f"definition_version must be a version number from 1 up, not "
                f"{definition_version!r}.",
                field="definition_version",
            )
        if definition_version == self._definition_version:
            raise InvalidTransitionError(
                f"execution {self.id} already runs version {definition_version}."
            )
        mapping = {
            id_text(old, field="step_mapping"): id_text(new, field="step_mapping")
            for old, new in dict(step_mapping).items()
        }
        self.trigger_event(
            self.Migrated,
            timestamp=utc(at),
            step_id=step,
            to_step=id_text(to_step, field="to_step"),
            from_version=self._definition_version,
            definition_version=definition_version,
            step_mapping=mapping,
            requested_by=optional_text(requested_by, field="requested_by"),
        )

    # -- commands: parked steps ----------------------------------------------------------------

    def park_step(self, *, step_id: str, error: str, at: datetime) -> None:
        step = self._require_open_step(step_id)
        self.trigger_event(
            self.StepParked,
            timestamp=utc(at),
            step_id=step,
            error=required_text(error, field="error"),
        )

    def resolve_parked_step(
        self,
        *,
        step_id: str,
        action: str,
        requested_by: str | None,
        reason: str | None,
        at: datetime,
    ) -> None:
        self._require_not_terminal()
        step = id_text(step_id, field="step_id")
        if self._status != NEEDS_ATTENTION or self._parked_entry(step) is None:
            raise InvalidTransitionError(
                f"execution {self.id} is not waiting for attention on step {step!r}."
            )
        if action not in PARKED_ACTIONS:
            raise InvalidValueError(
                f"{action!r} is not what can become of a parked step; use one of "
                f"{', '.join(PARKED_ACTIONS)}.",
                field="action",
            )
        self.trigger_event(
            self.ParkedStepResolved,
            timestamp=utc(at),
            step_id=step,
            action=action,
            requested_by=optional_text(requested_by, field="requested_by"),
            reason=optional_text(reason, field="reason"),
        )

    # -- commands: compensation ----------------------------------------------------------------

    def begin_compensation(
        self,
        *,
        cause: str,
        step_id: str | None,
        reason: str,
        cancelled_by: str | None,
        at: datetime,
    ) -> None:
        self._require_started()
        if self._status == COMPENSATING:
            raise InvalidTransitionError(f"execution {self.id} is already compensating.")
        if cause not in COMPENSATION_CAUSES:
            raise InvalidValueError(
                f"{cause!r} is not a cause of compensation; use one of "
                f"{', '.join(COMPENSATION_CAUSES)}.",
                field="cause",
            )
        self.trigger_event(
            self.CompensationStarted,
            timestamp=utc(at),
            cause=cause,
            step_id=optional_id_text(step_id, field="step_id"),
            reason=required_text(reason, field="reason"),
            cancelled_by=optional_text(cancelled_by, field="cancelled_by"),
        )

    def start_compensation_step(
        self, *, step_id: str, step_type: str, step_name: str, compensation_of: str, at: datetime
    ) -> None:
        self._require_compensating()
        if step_type not in STEP_TYPES:
            raise InvalidValueError(
                f"{step_type!r} is not a step type; use one of {', '.join(STEP_TYPES)}.",
                field="step_type",
            )
        self.trigger_event(
            self.CompensationStepStarted,
            timestamp=utc(at),
            step_id=id_text(step_id, field="step_id"),
            step_type=step_type,
            step_name=_text(step_name, field="step_name"),
            compensation_of=id_text(compensation_of, field="compensation_of"),
        )

    def end_compensation(self, *, failures: Sequence[Mapping[str, Any]], at: datetime) -> None:
        """`compensated`, or `compensation_failed` with the failures after the first reason."""
        self._require_compensating()
        timestamp = utc(at)
        if not failures:
            self.trigger_event(self.Compensated, timestamp=timestamp)
            return
        listed = [json_object(failure, field="failures") for failure in failures]
        said = "; ".join(f"{f.get('step_id')}: {f.get('error')}" for f in listed)
        error = f"{self._error or 'compensation'}; compensation failed ({said})"
        self.trigger_event(
            self.CompensationFailed, timestamp=timestamp, failures=listed, error=error
        )

    # -- commands: steps -----------------------------------------------------------------------

    def start_step(
        self,
        *,
        step_id: str,
        step_type: str,
        step_name: str,
        at: datetime,
        within: Mapping[str, Any] | None = None,
    ) -> None:
        self._require_started()
        timestamp = utc(at)
        if step_type not in STEP_TYPES:
            raise InvalidValueError(
                f"{step_type!r} is not a step type; use one of {', '.join(STEP_TYPES)}.",
                field="step_type",
            )
        if not isinstance(step_name, str):
            raise InvalidValueError(
                f"step_name must be text, not {step_name!r}.", field="step_name"
            )
        marker = {} if within is None else {"within": json_object(within, field="within")}
        self.trigger_event(
            self.StepStarted,
            timestamp=timestamp,
            step_id=id_text(step_id, field="step_id"),
            step_type=step_type,
            step_name=step_name,
            **marker,
        )

    def cancel_step(self, *, step_id: str, reason: str, at: datetime) -> None:
        """Close an open step as cancelled (see StepCancelled)."""
        step = self._require_open_step(step_id)
        timestamp = utc(at)
        self.trigger_event(
            self.StepCancelled,
            timestamp=timestamp,
            step_id=step,
            reason=required_text(reason, field="reason"),
        )

    def complete_step(
        self, *, step_id: str, output: Mapping[str, Any] | None, at: datetime
    ) -> None:
        step = self._require_open_step(step_id)
        timestamp = utc(at)
        self.trigger_event(
            self.StepCompleted,
            timestamp=timestamp,
            step_id=step,
            output=json_object(output, field="output"),
        )

    def fail_step(self, *, step_id: str, error: str, at: datetime) -> None:
        step = self._require_open_step(step_id)
        timestamp = utc(at)
        self.trigger_event(
            self.StepFailed,
            timestamp=timestamp,
            step_id=step,
            error=required_text(error, field="error"),
        )

    def wait(
        self,
        *,
        step_id: str,
        waiting_for: str,
        until: datetime | None,
        detail: Mapping[str, Any] | None,
        at: datetime,
    ) -> None:
        step = self._require_open_step(step_id)
        timestamp = utc(at)
        if waiting_for not in WAITING_FOR:
            raise InvalidValueError(
                f"{waiting_for!r} is not something to wait for; use one of "
                f"{', '.join(WAITING_FOR)}.",
                field="waiting_for",
            )
        self.trigger_event(
            self.Waiting,
            timestamp=timestamp,
            step_id=step,
            waiting_for=waiting_for,
            until=None if until is None else iso(until, field="until"),
            detail=json_object(detail, field="detail"),
        )

    def change_ui_status(self, *, step_id: str | None, ui_status: str, at: datetime) -> bool:
        """Set the definition-level label; False (no event) when it already has it."""
        self._require_not_terminal()
        timestamp = utc(at)
        new = required_text(ui_status, field="ui_status")
        if new == self._ui_status:
            return False
        self.trigger_event(
            self.UiStatusChanged,
            timestamp=timestamp,
            step_id=optional_id_text(step_id, field="step_id"),
            old_ui_status=self._ui_status,
            new_ui_status=new,
        )
        return True

    # -- commands: side effects worth auditing -------------------------------------------------

    def record_reminder(
        self,
        *,
        step_id: str,
        task_id: str | UUID | None,
        recipient: str,
        count: int,
        message: str,
        at: datetime,
    ) -> None:
        self._require_started()
        timestamp = utc(at)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidValueError(
                f"count must be a whole number from 1 up, not {count!r}.", field="count"
            )
        self.trigger_event(
            self.ReminderSent,
            timestamp=timestamp,
            step_id=id_text(step_id, field="step_id"),
            task_id=optional_id_text(task_id, field="task_id"),
            recipient=required_text(recipient, field="recipient"),
            count=count,
            message=_text(message, field="message"),
        )

    def record_email(
        self,
        *,
        step_id: str,
        to: Sequence[str],
        subject: str,
        delivered: bool,
        message_id: str | None,
        error: str | None,
        at: datetime,
    ) -> None:
        self._require_started()
        timestamp = utc(at)
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise InvalidValueError("An email needs at least one recipient.", field="to")
        self.trigger_event(
            self.EmailSent,
            timestamp=timestamp,
            step_id=id_text(step_id, field="step_id"),
            to=[required_text(address, field="to") for address in recipients],
            subject=_text(subject, field="subject"),
            delivered=bool(delivered),
            message_id=optional_text(message_id, field="message_id"),
            error=optional_text(error, field="error"),
        )

    def record_http_request(
        self,
        *,
        step_id: str,
        method: str,
        url: str,
        status_code: int | None,
        duration_ms: float,
        error: str | None,
        at: datetime,
    ) -> None:
        self._require_started()
        timestamp = utc(at)
        if status_code is not None and (
            isinstance(status_code, bool) or not isinstance(status_code, int)
        ):
            raise InvalidValueError(
                f"status_code must be a whole number, not {status_code!r}.", field="status_code"
            )
        if (
            isinstance(duration_ms, bool)
            or not isinstance(duration_ms, int | float)
            or duration_ms < 0
        ):
            raise InvalidValueError(
                f"duration_ms must be a non-negative number, not {duration_ms!r}.",
                field="duration_ms",
            )
        self.trigger_event(
            self.HttpRequestMade,
            timestamp=timestamp,
            step_id=id_text(step_id, field="step_id"),
            method=required_text(method, field="method").upper(),
            url=required_text(url, field="url"),
            status_code=status_code,
            duration_ms=float(duration_ms),
            error=optional_text(error, field="error"),
        )

    # -- state ---------------------------------------------------------------------------------

    @property
    def org_id(self) -> str:
        return self._org_id

    @property
    def status(self) -> str:
        return self._status

    @property
    def is_terminal(self) -> bool:
        return self._status in TERMINAL_STATES

    @property
    def ui_status(self) -> str | None:
        return self._ui_status

    @property
    def current_step_id(self) -> str | None:
        return self._current_step_id

    @property
    def definition_id(self) -> str:
        return self._definition_id

    @property
    def definition_version(self) -> int:
        return self._definition_version

    @property
    def contact_id(self) -> str | None:
        return self._contact_id

    @property
    def input(self) -> dict[str, Any]:
        return copy.deepcopy(self._input)

    @property
    def trigger(self) -> dict[str, Any]:
        return copy.deepcopy(self._trigger)

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        return self._workflow_run_id

    @property
    def retries(self) -> int:
        """How many times the execution was retried (POST /executions/{id}/retry)."""
        return self._retries

    @property
    def step_history(self) -> list[dict[str, Any]]:
        """One entry per step run, in order; a step that runs twice has two entries."""
        return copy.deepcopy(self._history)

    def step_is_open(self, step_id: str) -> bool:
        """Whether the latest run of `step_id` has started and not yet completed or failed."""
        return self._open_entry(step_id) is not None

    def last_step_output(self, step_id: str) -> dict[str, Any] | None:
        """The output of the latest run of `step_id`, if that run completed."""
        for entry in reversed(self._history):
            if entry["step_id"] == step_id:
                output = entry["output"]
                return None if output is None else copy.deepcopy(output)
        return None

    @property
    def step_outputs(self) -> dict[str, dict[str, Any]]:
        """The latest output of each completed step: the `step_N` roots of templates."""
        return copy.deepcopy(self._outputs)

    @property
    def waiting(self) -> dict[str, Any] | None:
        """What the execution waits for (step_id, waiting_for, until, detail), if waiting."""
        return copy.deepcopy(self._waiting)

    @property
    def reminders_sent(self) -> dict[str, int]:
        """Reminder count per step, so a resumed run knows how many it already sent."""
        return dict(self._reminders_sent)

    @property
    def output(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._output)

    @property
    def error(self) -> str | None:
        """Why it failed, timed out or was cancelled."""
        return self._error

    @property
    def started_at(self) -> str | None:
        return self._started_at

    @property
    def finished_at(self) -> str | None:
        return self._finished_at

    # -- helpers -------------------------------------------------------------------------------

    def _require_not_terminal(self) -> None:
        if self._status in TERMINAL_STATES:
            raise InvalidTransitionError(
                f"execution {self.id} is {self._status}; it cannot change any more."
            )

    def _require_compensating(self) -> None:
        if self._status != COMPENSATING:
            raise InvalidTransitionError(
                f"execution {self.id} is {self._status}, not compensating."
            )

    def _resume_running(self) -> None:
        """A step starts or ends: the execution runs again, unless it is compensating (its
        compensations are steps too, and it stays compensating until they end)."""
        if self._status != COMPENSATING:
            self._status = RUNNING

    def _require_started(self) -> None:
        self._require_not_terminal()
        if self._status == PENDING:
            raise InvalidTransitionError(f"execution {self.id} has not started yet.")

    def _require_open_step(self, step_id: str) -> str:
        self._require_started()
        step = id_text(step_id, field="step_id")
        if self._open_entry(step) is None:
            raise InvalidTransitionError(
                f"step {step!r} of execution {self.id} is not running; start it first."
            )
        return step

    def _open_entry(self, step_id: str) -> dict[str, Any] | None:
        for entry in reversed(self._history):
            if entry["step_id"] == step_id:
                return entry if entry["status"] in _OPEN_STEP_STATES else None
        return None

    def _parked_entry(self, step_id: str) -> dict[str, Any] | None:
        for entry in reversed(self._history):
            if entry["step_id"] == step_id:
                return entry if entry["status"] == STEP_NEEDS_ATTENTION else None
        return None

    def _close_step(self, step_id: str, error: str, timestamp: datetime) -> None:
        entry = self._open_entry(step_id)
        if entry is not None:
            entry.update(status=STEP_FAILED, completed_at=timestamp.isoformat(), error=error)

    def _finish(self, status: str, timestamp: datetime) -> None:
        self._status = status
        self._waiting = None
        self._finished_at = timestamp.isoformat()


def _text(value: object, *, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"{field} must be text, not {value!r}.", field=field)
    return value
