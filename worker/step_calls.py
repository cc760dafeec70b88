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
from worker.contracts import CommandMeta

# ApplicationError types the step activities raise for a failed outbound HTTP call.
HTTP_CLIENT_ERROR = "HttpClientError"  # 4xx: the request is wrong, retrying will not help
HTTP_SERVER_ERROR = "HttpServerError"  # 5xx, 408, 429: worth retrying
HTTP_TRANSPORT_ERROR = "HttpTransportError"  # no answer at all: worth retrying


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
    def send_email_step(self, call: SendEmailStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def http_request_step(self, call: HttpRequestStep) -> StepResult: ...

    @activity.defn
    @abstractmethod
    def send_reminder(self, call: SendReminder) -> None: ...


__all__ = [
    "HTTP_CLIENT_ERROR",
    "HTTP_SERVER_ERROR",
    "HTTP_TRANSPORT_ERROR",
    "AssignTaskStep",
    "BeginExecution",
    "BeginResult",
    "Call",
    "CompleteTaskStep",
    "EngineActivities",
    "FinishExecution",
    "HttpRequestStep",
    "RecordStep",
    "SendEmailStep",
    "SendReminder",
    "SetDueDateStep",
    "StepCall",
    "StepDone",
    "StepRef",
    "StepResult",
    "UpdateContactStep",
    "UpdateStatusStep",
    "UpdateTaskStep",
    "Wait",
]
