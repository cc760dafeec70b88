"""Bodies of the execution commands: start, signal, cancel."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from interfaces.api.schemas.contacts import ContactCreate


class ExecutionCreate(BaseModel):
    """``POST /executions``: run an active definition for a contact (an existing one, or one
    created from ``contact``; neither lets the trigger's contact mapping decide)."""

    model_config = ConfigDict(extra="forbid")

    definition_id: UUID
    contact_id: UUID | None = None
    contact: ContactCreate | None = None
    input: dict[str, Any] = Field(default_factory=dict)


class ExecutionCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


class ExecutionRetry(BaseModel):
    """``POST /executions/{id}/retry``: run a failed or timed-out execution again from
    `from_step` (default: the step it failed on), recorded with who asked and why."""

    model_config = ConfigDict(extra="forbid")

    from_step: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]{1,100}$"
    )
    reason: str | None = Field(default=None, max_length=1000)
