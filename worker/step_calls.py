"""The private contract between the execution interpreter and its activities.

Like ``worker.contracts`` this module holds only pydantic models, so the workflow module may
import it (passed through the sandbox) without pulling in application code. The HTTP layer has
no business here: nothing in this module is part of the public contract.

Every call carries a ``command_key`` chosen by the workflow (`<visit>-<step id>/<what>`): the
activity turns it into the command id ``<workflow id>/<command_key>``, which is the same on every
retry and replay of that call and different for every visit of a looping step and every
continue-as-new run, so an event is never appended twice and never wrongly skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from worker.contracts import CommandMeta

# Activity names: the workflow calls them by name and never imports their code.
BEGIN_EXECUTION = "begin_execution"
RECORD_STEP = "record_step"
ASSIGN_TASK_STEP = "assign_task_step"
UPDATE_TASK_STEP = "update_task_step"
COMPLETE_TASK_STEP = "complete_task_step"
UPDATE_CONTACT_STEP = "update_contact_step"
UPDATE_STATUS_STEP = "update_status_step"
SET_DUE_DATE_STEP = "set_due_date_step"
SEND_EMAIL_STEP = "send_email_step"
HTTP_REQUEST_STEP = "http_request_step"
SEND_REMINDER = "send_reminder"
FINISH_EXECUTION = "finish_execution"

# ApplicationError types the step activities raise for a failed outbound HTTP call.
HTTP_CLIENT_ERROR = "HttpClientError"  # 4xx: the request is wrong, retrying will not help
HTTP_SERVER_ERROR = "HttpServerError"  # 5xx, 408, 429: worth retrying
HTTP_TRANSPORT_ERROR = "HttpTransportError"  # no answer at all: worth retrying


class StepRef(BaseModel):
    id: str
    type: str
    name: str


class Call(BaseModel):
    """What every engine activity needs: who, which execution, and its idempotency key."""

    meta: CommandMeta
    execution_id: str
    command_key: str


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


class BeginResult(BaseModel):
    contact_id: str | None = None
    contact: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None  # set when the execution could not start (and is now failed)


class WaitSpec(BaseModel):
    waiting_for: Literal["task", "signal", "delay", "reminder"]
    until: datetime | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class RecordStep(StepCall):
    """Records a step's progress in one save: started (if not yet), then waiting, completed
    with `output`, or failed with `error`, as given."""

    wait: WaitSpec | None = None
    output: dict[str, Any] | None = None
    error: str | None = None


class AssignTaskStep(StepCall):
    title: str
    assigned_to: str
    description: str | None = None
    priority: str = "medium"
    due_date: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    contact_id: str | None = None


class UpdateTaskStep(StepCall):
    task_id: str
    # title, description, priority, metadata, assigned_to, due_date (ISO text or None)
    changes: dict[str, Any]


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
    due_date: str
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
    wait_again: WaitSpec | None = None


class FinishExecution(Call):
    outcome: Literal["completed", "failed", "cancelled", "timed_out"]
    step: StepRef | None = None  # the step that failed or timed out, closed with the error
    error: str | None = None  # failed / timed_out: why; cancelled: the reason
    cancelled_by: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    cancel_task_ids: list[str] = Field(default_factory=list)
