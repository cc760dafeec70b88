"""Execution DTOs: ``GET /executions[/{id}]`` with the step timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ConfigDict

from interfaces.api.schemas.common import PublicModel

ExecutionStatus = Literal[
    "pending", "running", "waiting", "completed", "failed", "cancelled", "timed_out"
]


class ExecutionStepPublic(PublicModel):
    """One run of one step; extra keys the engine records (reminders, emails…) pass through."""

    model_config = ConfigDict(extra="allow")

    step_id: str
    step_type: str | None = None
    name: str | None = None
    status: str
    started_at: str | None = None
    completed_at: str | None = None


class ExecutionPublic(PublicModel):
    id: UUID
    org_id: str
    definition_id: str
    definition_version: int | None
    contact_id: str | None
    workflow_id: str | None
    workflow_run_id: str | None
    status: str
    ui_status: str | None
    current_step_id: str | None
    input: dict[str, Any] | None
    output: Any
    error: str | None
    cancelled_by: str | None
    trigger: dict[str, Any] | None
    # Absent when listed with include_steps=false.
    steps: list[ExecutionStepPublic] | None = None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class ExecutionsPage(PublicModel):
    items: list[ExecutionPublic]
    next_cursor: str | None
