"""Activities for the contact, task and definition command workflows.

Plain ``def`` methods: the services use a blocking driver, so the worker runs these on a thread
pool rather than stalling its event loop (brief.md, "two traps").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from temporalio import activity

from application.bundle import Services
from application.errors import NotFoundError
from application.metadata import CommandContext
from application.services import ContactDraft, TaskDraft
from domain.errors import InvalidValueError
from worker.activities.context import command_context
from worker.contracts import (
    AdminCommand,
    CommandResult,
    ContactCommand,
    DefinitionCommand,
    TaskCommand,
    TaskStatusChanged,
)

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "status", "fields")
TASK_FIELDS = (
    "title",
    "description",
    "assigned_to",
    "priority",
    "due_date",
    "metadata",
    "status",
)


def _uuid(kind: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFoundError(kind, value) from None


def _check_keys(changes: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in changes:
        if key not in allowed:
            raise InvalidValueError(f"{key!r} is not a field that can be set", field=key)


def _due_date(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidValueError(
            f"due_date {value!r} is not an ISO-8601 date-time", field="due_date"
        ) from None


class CommandActivities:
    """Holds the injected services; each method is one activity."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def _result(self, ctx: CommandContext, aggregate_id: UUID, *extra: CommandContext) -> Any:
        recorder = self._services.store.recorder
        positions = [recorder.command_position(c.command_id) for c in (ctx, *extra)]
        known = [p for p in positions if p is not None]
        return CommandResult(id=str(aggregate_id), position=max(known) if known else None)

    @activity.defn(name="contact_command")
    def contact_command(self, cmd: ContactCommand) -> CommandResult:
        ctx = command_context(cmd.meta)
        contact_id = _uuid("contact", cmd.contact_id)
        contacts = self._services.contacts
        if cmd.action == "create":
            _check_keys(cmd.changes, CONTACT_FIELDS)
            draft = ContactDraft(contact_id=contact_id, **cmd.changes)
            contacts.create_contact(ctx, draft)
        elif cmd.action == "update":
            _check_keys(cmd.changes, CONTACT_FIELDS)
            contacts.update_contact(ctx, contact_id, cmd.changes)
        else:
            contacts.archive_contact(ctx, contact_id, cmd.reason)
        result: CommandResult = self._result(ctx, contact_id)
        return result

    @activity.defn(name="task_command")
    def task_command(self, cmd: TaskCommand) -> CommandResult:
        ctx = command_context(cmd.meta)
        task_id = _uuid("task", cmd.task_id)
        tasks = self._services.tasks
        _check_keys(cmd.changes, TASK_FIELDS)
        changes = dict(cmd.changes)
        if "due_date" in changes:
            changes["due_date"] = _due_date(changes["due_date"])
        if cmd.action == "update":
            tasks.update_task(ctx, task_id, changes)
            result: CommandResult = self._result(ctx, task_id)
            if "status" in changes:
                result.task_status_changed = self._execution_signal(ctx, task_id)
            return result
        status = changes.pop("status", None)
        metadata = changes.pop("metadata", None) or {}
        tasks.assign_task(ctx, TaskDraft(task_id=task_id, metadata=metadata, **changes))
        if status is None or status == "todo":
            result = self._result(ctx, task_id)
            return result
        # A second command of its own: one command id must not write two saves.
        status_ctx = ctx.caused_by(f"{ctx.command_id}#status")
        tasks.change_task_status(status_ctx, task_id, str(status))
        result = self._result(ctx, task_id, status_ctx)
        return result

    def _execution_signal(self, ctx: CommandContext, task_id: UUID) -> TaskStatusChanged | None:
        """What to tell the execution that created the task, if one did (seed 000, Pattern 4)."""
        task = self._services.tasks.get_task(ctx, task_id)
        if task.execution_id is None:
            return None
        completed_at = task.completed_at
        return TaskStatusChanged(
            execution_id=task.execution_id,
            task_id=str(task_id),
            step_id=task.step_id,
            status=task.status,
            metadata=task.metadata,
            completed_at=None if completed_at is None else completed_at.isoformat(),
            version=task.version,
        )

    @activity.defn(name="definition_command")
    def definition_command(self, cmd: DefinitionCommand) -> CommandResult:
        ctx = command_context(cmd.meta)
        definition_id = _uuid("definition", cmd.definition_id)
        definitions = self._services.definitions
        if cmd.action in ("create", "publish") and cmd.body is None:
            raise InvalidValueError("a definition body is required", field="body")
        if cmd.action == "create":
            assert cmd.body is not None
            definitions.create_definition(ctx, cmd.body, definition_id)
        elif cmd.action == "publish":
            assert cmd.body is not None
            definitions.publish_version(ctx, definition_id, cmd.body)
        elif cmd.action == "activate":
            definitions.activate(ctx, definition_id)
        elif cmd.action == "deactivate":
            definitions.deactivate(ctx, definition_id)
        else:
            definitions.rotate_webhook_secret(ctx, definition_id)
        result: CommandResult = self._result(ctx, definition_id)
        definition = definitions.get_definition(ctx, definition_id)
        result.version = definition.current_version
        result.webhook_secret_generation = definition.webhook_secret_generation
        return result

    @activity.defn(name="admin_command")
    def admin_command(self, cmd: AdminCommand) -> CommandResult:
        ctx = command_context(cmd.meta)
        action_id = self._services.admin.record_action(ctx, cmd.action, cmd.target, cmd.parameters)
        result: CommandResult = self._result(ctx, action_id)
        return result
