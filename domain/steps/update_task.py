"""`update_task`: changes fields of the task of an earlier assign_task step (as PATCH /tasks
does; it does not wake the execution)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Date, Field, Ident, Object, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker, shown

TASK_UPDATE_KEYS = ("title", "description", "priority", "assign_to", "due_date", "metadata")


class TaskUpdates(StepConfig):
    """Only the fields the step names are changed (`model_fields_set`)."""

    title: Any = None
    description: Any = None
    priority: Any = None
    assign_to: Text = None
    due_date: Date = None
    metadata: Object = Field(default_factory=dict)

    def changes(self) -> dict[str, Any]:
        """The task changes, in the task's own names (`assigned_to`)."""
        changes: dict[str, Any] = {}
        for key in self.model_fields_set:
            changes["assigned_to" if key == "assign_to" else key] = getattr(self, key)
        return changes


class UpdateTaskConfig(StepConfig):
    task_from_step: Ident
    updates: TaskUpdates = TaskUpdates()


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=True)
    updates = c.object(config, "updates", required=True)
    if "updates" in config and isinstance(config["updates"], Mapping) and not updates:
        c.add("updates", "'updates' is empty; name at least one task field to change.")
    for key, value in updates.items():
        where = f"updates.{key}"
        if key not in TASK_UPDATE_KEYS:
            c.add(
                where,
                f"'{key}' cannot be updated on a task; use one of {', '.join(TASK_UPDATE_KEYS)}.",
            )
        elif key == "priority":
            c.priority(value, where)
        elif key == "assign_to":
            c.assignee(value, where)
        elif key == "due_date" and value is not None:
            c.date(value, where)
        elif key == "title" and (not isinstance(value, str) or not value.strip()):
            c.add(where, f"'{where}' must be non-blank text, not {shown(value)}.")
        elif key == "metadata":
            c.object_or_template(updates, "metadata", prefix="updates.")


TYPE = StepType("update_task", UpdateTaskConfig, check)
