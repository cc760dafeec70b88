"""Task DTOs: ``POST /tasks``, ``PATCH /tasks/{id}``, ``GET /tasks[/{id}]``, ``GET /me/tasks``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, field_validator

from interfaces.api.schemas.common import PublicModel, RequestBody, refuse_null
from interfaces.api.schemas.times import IsoTime

TaskStatus = Literal["todo", "in_progress", "done", "cancelled"]
Priority = Literal["low", "medium", "high", "urgent"]
Title = Annotated[str, Field(min_length=1, max_length=500)]
Description = Annotated[str, Field(max_length=10_000)]
Assignee = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^(user|role):\S+$",
        description="`user:<id>` or `role:<name>`",
        examples=["role:admin", "user:user_2abc"],
    ),
]


class TaskCreate(RequestBody):
    title: Title
    assigned_to: Assignee
    description: Description | None = None
    status: TaskStatus = "todo"
    priority: Priority = "medium"
    due_date: IsoTime | None = Field(
        default=None, description="ISO 8601 date-time with a timezone."
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class TaskUpdate(RequestBody):
    """A PATCH: only the fields present change; null clears the description or due date.

    With ``status``, ``metadata`` travels with the status change (e.g. a review's outcome).
    """

    title: Title | None = None
    assigned_to: Assignee | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    priority: Priority | None = None
    due_date: IsoTime | None = None
    metadata: dict[str, Any] | None = None

    _not_null = field_validator("title", "assigned_to", "status", "priority", "metadata")(
        refuse_null
    )


class TaskPublic(PublicModel):
    id: UUID
    org_id: str
    title: str
    description: str | None
    assigned_to: str
    priority: str
    status: str
    due_date: datetime | None
    execution_id: str | None
    step_id: str | None
    contact_id: str | None
    metadata: dict[str, Any]
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class TasksPage(PublicModel):
    items: list[TaskPublic]
    next_cursor: str | None
