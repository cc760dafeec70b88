"""Task commands: assign (create), update, change status, reassign, set due date."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from application.metadata import CommandContext
from application.services.base import Outcome, Service, derived_id
from domain.task import Task

_UNSET: Any = object()


@dataclass(frozen=True)
class TaskDraft:
    title: str
    assigned_to: str
    description: str | None = None
    priority: str = "medium"
    due_date: datetime | None = None
    execution_id: str | None = None
    step_id: str | None = None
    contact_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    task_id: UUID | None = None


class TaskService(Service):
    def assign_task(self, ctx: CommandContext, draft: TaskDraft) -> UUID:
        task_id = draft.task_id or derived_id("task", ctx)

        def run(now: datetime) -> Outcome:
            task = Task.assign(
                task_id=task_id,
                org_id=ctx.org_id,
                title=draft.title,
                description=draft.description,
                assigned_to=draft.assigned_to,
                priority=draft.priority,
                due_date=draft.due_date,
                execution_id=draft.execution_id,
                step_id=draft.step_id,
                contact_id=draft.contact_id,
                metadata=dict(draft.metadata),
                at=now,
            )
            return task_id, [task]

        return self._execute(ctx, run)

    def update_task(self, ctx: CommandContext, task_id: UUID, changes: Mapping[str, Any]) -> UUID:
        """Apply a PATCH as one command: any of title, description, priority, metadata,
        assigned_to, due_date (an aware datetime or None) and status (with the metadata)."""
        changes = dict(changes)
        status = changes.pop("status", None)
        assigned_to = changes.pop("assigned_to", None)
        due_date = changes.pop("due_date", _UNSET)
        metadata = changes.get("metadata") if status is not None else None
        if status is not None:
            changes.pop("metadata", None)

        def run(now: datetime) -> Outcome:
            task = self._load(Task, "task", task_id, ctx)
            if changes:
                task.update(changes=changes, at=now)
            if assigned_to is not None:
                task.reassign(assigned_to=str(assigned_to), at=now)
            if due_date is not _UNSET:
                task.set_due_date(due_date=due_date, at=now)
            if status is not None:
                task.change_status(status=str(status), metadata=metadata, at=now)
            return task_id, [task]

        return self._execute(ctx, run)

    def change_task_status(
        self,
        ctx: CommandContext,
        task_id: UUID,
        status: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> UUID:
        return self.update_task(
            ctx, task_id, {"status": status, "metadata": dict(metadata) if metadata else None}
        )

    def reassign_task(self, ctx: CommandContext, task_id: UUID, assigned_to: str) -> UUID:
        def run(now: datetime) -> Outcome:
            task = self._load(Task, "task", task_id, ctx)
            task.reassign(assigned_to=assigned_to, at=now)
            return task_id, [task]

        return self._execute(ctx, run)

    def set_task_due_date(
        self, ctx: CommandContext, task_id: UUID, due_date: datetime | None
    ) -> UUID:
        """Set the due date (an aware datetime), or clear it with None."""

        def run(now: datetime) -> Outcome:
            task = self._load(Task, "task", task_id, ctx)
            task.set_due_date(due_date=due_date, at=now)
            return task_id, [task]

        return self._execute(ctx, run)

    def get_task(self, ctx: CommandContext, task_id: UUID) -> Task:
        return self._read(Task, "task", task_id, ctx)
