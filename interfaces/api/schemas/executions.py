"""Execution DTOs: ``GET /executions[/{id}]`` with the step timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from interfaces.api.schemas.common import PublicModel

ExecutionStatus = Literal[
    "pending",
    "running",
    "waiting",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "compensating",
    "compensated",
    "compensation_failed",
    "needs_attention",
]


class ExecutionStepPublic(PublicModel):
    """One run of one step; extra keys the engine records (reminders, emails…) pass through, as
    does `within` on a step inside a container step: `{"step_id", "branch"}` in a parallel
    step's branch, `{"step_id", "iteration", "item"}` in a for_each's iteration."""

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


class ParkedStepRequest(BaseModel):
    """``POST /executions/{id}/steps/{step_id}/retry`` and ``/skip``: why (optional), recorded
    with who asked."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)
