"""The private contract between the execution interpreter and its activities.

Like ``worker.contracts`` this module holds only pydantic models, plus `EngineActivities`, the
activities' signatures: the workflow calls ``EngineActivities.assign_task_step`` by reference
(so a renamed or retyped activity fails type-checking), and the worker registers
``worker.activities.execution.ExecutionActivities``, which implements them. The workflow module
may import this one (passed through the sandbox) without pulling in application code. The HTTP
layer has no business here: nothing in this module is part of the public contract.

Every call carries a ``command_key`` chosen by the workflow (`<visit>-<step id>/<what>`): the
activity turns it into the command id ``<workflow id>/<command_key>``, which is the same on every
retry and replay of that call and different for every visit of a looping step and every
continue-as-new run, so an event is never appended twice and never wrongly skipped. `before`
holds the steps the workflow finished without an activity of their own since the last call;
they are recorded in the same save, under the same command id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import activity

from domain.steps import StepDone, StepRef, Wait
from worker.contracts import CommandMeta, TaskRef

# ApplicationError types the step activities raise for a failed outbound HTTP call.
HTTP_CLIENT_ERROR = "HttpClientError"  # 4xx: the request is wrong, retrying will not help
HTTP_SERVER_ERROR = "HttpServerError"  # 5xx, 408, 429: worth retrying
HTTP_TRANSPORT_ERROR = "HttpTransportError"  # no answer at all: worth retrying
# ApplicationError types of an `llm` step besides the HTTP ones above.
LLM_ANSWER_ERROR = "LlmAnswerError"  # 2xx, but no usable completion (or not JSON)
LLM_NOT_CONFIGURED = "LlmNotConfigured"  # the worker has no LLM_BASE_URL


class Call(BaseModel):
    """What every engine activity needs: who, which execution, and its idempotency key."""

    meta: CommandMeta
    execution_id: str
    command_key: str
    before: list[StepDone] = Field(default_factory=list)


class StepCall(Call):
    step: StepRef


class StepResult(BaseModel):
    """A step activity's answer: the output recorded on `ExecutionStepCompleted`."""

    output: dict[str, Any] = Field(default_factory=dict)


class BeginExecution(Call):
    definition_id: str
    definition_version: int
    contact_id: str | None = None
    contact: dict[str, Any] | None = None  # fields of a contact to create
    input: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] = Field(default_factory=dict)
    trigger_step: StepRef
    trigger_output: dict[str, Any] = Field(default_factory=dict)
    # Set when the execution cannot be recorded as asked (its data cannot be stored, or the
    # recording gave up): it is recorded without its data and failed at once, with this reason.
    error: str | None = None


class BeginResult(BaseModel):
    contact_id: str | None = None
    contact: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None  # set when the execution could not start (and is now failed)


class ResumeExecution(StepCall):
    """Records that a failed or timed-out execution runs again from `step` (a retry), in the
    run `workflow_run_id`, as `requested_by` asked."""

    requested_by: str | None = None
    reason: str | None = None
    workflow_run_id: str


class LoopSoFar(BaseModel):
    """How far a for_each got before its execution failed in it, as the timeline has it: the
    outputs of the iterations that completed (from 0, one dict per iteration, by step id) and
    the items those and the failed iteration worked on (by index; an item too large for the
    timeline is not there). A retry from the loop goes on at the failed iteration."""

    step_id: str
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    items: dict[int, Any] = Field(default_factory=dict)


class ResumeResult(BaseModel):
    """What a retried run takes up, as the store has it: the execution's contact (as templates
    see it now), ui_status, the latest output of each completed step, the tasks its
    assign_task steps created (as they are now), reminders sent per step, and which steps
    completed, in order."""

    attempt: int
    contact_id: str | None = None
    contact: dict[str, Any] = Field(default_factory=dict)
    ui_status: str | None = None
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    tasks: list[TaskRef] = Field(default_factory=list)
    reminder_counts: dict[str, int] = Field(default_factory=dict)
    completed: list[str] = Field(default_factory=list)
    # Set when the retry is from a for_each step the execution failed in (absent from results
    # recorded before loops resumed: such a retry ran the loop from its first item).
    loop: LoopSoFar | None = None


class MigrateExecution(StepCall):
    """Records that the execution, waiting in `step`, moves to `definition_version` and goes
    on in `to_step` (`step_mapping` as asked, `requested_by` who asked)."""

    to_step: str
    definition_version: int
    step_mapping: dict[str, str] = Field(default_factory=dict)
    requested_by: str | None = None


class RecordStep(StepCall):
    """Records a step's progress in one save: started (if not yet), then waiting, completed
    with `output`, or failed with `error`, as given."""

    wait: Wait | None = None
    output: dict[str, Any] | None = None
    error: str | None = None


class AssignTaskStep(StepCall):
    title: str
    assigned_to: str
    description: str | None = None
    priority: str = "medium"
    due_date: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    contact_id: str | None = None


class UpdateTaskStep(StepCall):
    task_id: str
    # title, description, priority, metadata, assigned_to: only the fields the step names
    changes: dict[str, Any]
    # due_date apart, so that it travels as a date: set (or cleared, None) when `sets_due_date`
    sets_due_date: bool = False
    due_date: datetime | None = None


class CompleteTaskStep(StepCall):
    task_id: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class UpdateContactStep(StepCall):
    contact_id: str
    # first_name, last_name, email, phone, fields (merged), status
    changes: dict[str, Any]


class CreateContactStep(StepCall):
    # first_name, last_name, email, phone, status, fields: a new contact
    fields: dict[str, Any]


class ArchiveContactStep(StepCall):
    contact_id: str
    reason: str | None = None


class UpdateStatusStep(StepCall):
    ui_status: str


class SetDueDateStep(StepCall):
    due_date: datetime
    task_id: str | None = None


class SendEmailStep(StepCall):
    to: list[str]
    cc: list[str] = Field(default_factory=list)
    sender: str | None = None
    subject: str
    body: str
    # Attempts after which an undeliverable email is recorded as not delivered instead of
    # retried again (the step still completes: the event says what happened).
    max_attempts: int = 5


class HttpRequestStep(StepCall):
    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout_seconds: float = 30.0


class LlmStep(StepCall):
    model: str
    messages: list[dict[str, str]]
    json_output: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_seconds: float = 60.0
    price_per_1k_input_tokens: float | None = None
    price_per_1k_output_tokens: float | None = None


class SendReminder(Call):
    step_id: str
    task_id: str | None = None
    recipient: str
    count: int
    message: str
    email_to: list[str] = Field(default_factory=list)
    subject: str | None = None
    # wait_for_task's send_reminder: the step keeps waiting until this new time.
    wait_again: Wait | None = None


class FinishExecution(Call):
    outcome: Literal["completed", "failed", "cancelled", "timed_out"]
    step: StepRef | None = None  # the step that failed or timed out, closed with the error
    error: str | None = None  # failed / timed_out: why; cancelled: the reason
    cancelled_by: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    cancel_task_ids: list[str] = Field(default_factory=list)


class BeginCompensation(Call):
    """Compensation begins (saga): why (`cause`: failed, timed_out or cancelled), the step that
    failed or timed out (closed with `error`), who cancelled."""

    cause: Literal["failed", "timed_out", "cancelled"]
    step: StepRef | None = None
    error: str
    cancelled_by: str | None = None


class StartCompensationStep(StepCall):
    """A compensating step starts, marked as undoing the completed step `compensation_of`."""

    compensation_of: str


class EndCompensation(Call):
    """Compensation ends: `compensated`, or `compensation_failed` with `failures` (each
    {step_id, compensation_of, error}); a cancelled execution's open tasks are cancelled."""

    failures: list[dict[str, Any]] = Field(default_factory=list)
    cancel_task_ids: list[str] = Field(default_factory=list)


class ParkStep(StepCall):
    """The step failed with `error` and its `on_failure` is `park`: it waits for an admin."""

    error: str


class ResolveParkedStep(StepCall):
    """An admin's answer to a parked step: `retry` or `skip`, who asked, and why."""

    action: Literal["retry", "skip"]
    requested_by: str | None = None
    reason: str | None = None


class CancelSteps(Call):
    """Close the open steps the run no longer needs as cancelled, with `reason`, and cancel the
    tasks they opened (branches of a parallel step); `failed` (with `error`) is a branch's
    step that failed, closed first."""

    steps: list[StepRef] = Field(default_factory=list)
    reason: str
    cancel_task_ids: list[str] = Field(default_factory=list)
    failed: StepRef | None = None
    error: str | None = None


class EngineActivities(ABC):
    """The engine's activities as the workflow sees them: name (the method's), input, output.

    Abstract, so that an implementation that misses one cannot be built; each implementation
    method carries ``@activity.defn`` itself, under the same name.
    """

    @activity.defn
    @abstractmethod
    def begin_execution(self, call: BeginExecution) -> BeginResult: ...

    @activity.defn
    @abstractmethod
    def finish_execution(self, call: FinishExecution) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def resume_execution(self, call: ResumeExecution) -> ResumeResult: ...

    @activity.defn
    @abstractmethod
    def migrate_execution(self, call: MigrateExecution) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def record_step(self, call: RecordStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def update_status_step(self, call: UpdateStatusStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def assign_task_step(self, call: AssignTaskStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def update_task_step(self, call: UpdateTaskStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def complete_task_step(self, call: CompleteTaskStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def set_due_date_step(self, call: SetDueDateStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def update_contact_step(self, call: UpdateContactStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def create_contact_step(self, call: CreateContactStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def archive_contact_step(self, call: ArchiveContactStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def send_email_step(self, call: SendEmailStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def http_request_step(self, call: HttpRequestStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def llm_step(self, call: LlmStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def send_reminder(self, call: SendReminder) -> None: ...

    @activity.defn
    @abstractmethod
    def begin_compensation(self, call: BeginCompensation) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def start_compensation_step(self, call: StartCompensationStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def end_compensation(self, call: EndCompensation) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def park_step(self, call: ParkStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def cancel_steps(self, call: CancelSteps) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def resolve_parked_step(self, call: ResolveParkedStep) -> StepResult: ...


__all__ = [
    "HTTP_CLIENT_ERROR",
    "HTTP_SERVER_ERROR",
    "HTTP_TRANSPORT_ERROR",
    "LLM_ANSWER_ERROR",
    "LLM_NOT_CONFIGURED",
    "ArchiveContactStep",
    "AssignTaskStep",
    "BeginCompensation",
    "BeginExecution",
    "BeginResult",
    "Call",
    "CompleteTaskStep",
    "CreateContactStep",
    "EndCompensation",
    "EngineActivities",
    "FinishExecution",
    "HttpRequestStep",
    "LlmStep",
    "ParkStep",
    "RecordStep",
    "ResolveParkedStep",
    "SendEmailStep",
    "SendReminder",
    "SetDueDateStep",
    "StartCompensationStep",
    "StepCall",
    "StepDone",
    "StepRef",
    "StepResult",
    "UpdateContactStep",
    "UpdateStatusStep",
    "UpdateTaskStep",
    "Wait",
]
