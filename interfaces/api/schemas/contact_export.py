"""``GET /contacts/{id}/export``: everything held about one person (GDPR Art. 20)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from interfaces.api.schemas.common import PublicModel
from interfaces.api.schemas.contacts import ContactPublic
from interfaces.api.schemas.executions import ExecutionPublic
from interfaces.api.schemas.tasks import TaskPublic


class ExportedEmail(PublicModel):
    """An email as its ``WorkflowExecution.EmailSent`` event recorded it (no body is recorded)."""

    occurred_at: str
    position: int
    step_id: str | None
    to: list[str] | None
    subject: str | None
    delivered: bool | None
    message_id: str | None
    error: str | None


class ExportedHttpCall(PublicModel):
    occurred_at: str
    position: int
    step_id: str | None
    method: str | None
    url: str | None
    status_code: int | None
    duration_ms: float | None
    error: str | None


class ExportedExecution(PublicModel):
    execution_id: str
    workflow_id: str | None
    definition_id: str | None
    definition_version: int | None
    task_ids: list[str]
    read_model: ExecutionPublic | None = Field(
        description="The execution with its step timeline; null until the read side has it."
    )
    emails: list[ExportedEmail]
    http_calls: list[ExportedHttpCall]


class ExportedTask(PublicModel):
    task_id: str
    execution_id: str | None
    linked_by: Literal["contact", "execution"]
    read_model: TaskPublic | None


class ContactExport(PublicModel):
    format: Literal["json"]
    generated_at: str
    org_id: str
    contact_id: str
    contact: ContactPublic | None = Field(
        description="The contact as the read model shows it (archived ones included)."
    )
    tasks: list[ExportedTask]
    executions: list[ExportedExecution]
    workflows: list[dict[str, Any]]
    event_count: int = Field(description="How many events the contact's lineage holds.")
    event_limit: int = Field(description="At most this many events are in `events`.")
    truncated: bool = Field(description="True when `events` holds only the first event_limit.")
    events: list[dict[str, Any]] = Field(description="Event items, oldest first (as GET /events).")
