"""One handler per command: what each intent of `worker.commands` does to the services.

The activities (`worker.activities.commands`) are thin adapters that hand their input to these;
keeping the services here leaves the activity classes importable by workflow code, which calls
them by typed reference but may not reach `application`, even indirectly.
"""

from __future__ import annotations

from typing import assert_never
from uuid import UUID

from application.bundle import Services
from application.errors import NotFoundError
from application.metadata import CommandContext
from application.services import ContactDraft, TaskDraft
from worker.activities.context import command_context
from worker.activities.schedules import ScheduledDefinition
from worker.commands import (
    ActivateDefinition,
    ArchiveContact,
    AssignTask,
    ChangeContactStatus,
    ChangeTaskStatus,
    CompleteTask,
    ContactIntent,
    CreateContact,
    CreateDefinition,
    DeactivateDefinition,
    DefinitionIntent,
    EraseContact,
    ExportContact,
    PublishDefinitionVersion,
    ReassignTask,
    RotateWebhookSecret,
    SetTaskDueDate,
    TaskIntent,
    UpdateContact,
    UpdateTask,
    changes_task_status,
    contact_from_legacy,
    definition_from_legacy,
    task_from_legacy,
)
from worker.contracts import (
    AdminCommand,
    CommandResult,
    ContactCommand,
    DefinitionCommand,
    TaskCommand,
    TaskStatusChanged,
)


def _uuid(kind: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFoundError(kind, value) from None


class CommandHandlers:
    """Holds the injected services; `task`, `contact`, `definition` and `admin` take a command
    as its workflow received it and run the handler of its class."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def _result(
        self, ctx: CommandContext, aggregate_id: UUID, *extra: CommandContext
    ) -> CommandResult:
        """The command's id and the position of the last event it appended, for `?wait=true`."""
        recorder = self._services.store.recorder
        positions = [recorder.command_position(c.command_id) for c in (ctx, *extra)]
        known = [p for p in positions if p is not None]
        return CommandResult(id=str(aggregate_id), position=max(known) if known else None)

    # -- tasks ---------------------------------------------------------------------------------

    def task(self, cmd: TaskIntent | TaskCommand) -> CommandResult:
        intent = task_from_legacy(cmd) if isinstance(cmd, TaskCommand) else cmd
        ctx = command_context(intent.meta)
        task_id = _uuid("task", intent.task_id)
        match intent:
            case AssignTask():
                return self._assign_task(ctx, task_id, intent)
            case CompleteTask():
                self._services.tasks.change_task_status(ctx, task_id, "done", intent.metadata)
            case ChangeTaskStatus():
                self._services.tasks.change_task_status(
                    ctx, task_id, intent.status, intent.metadata
                )
            case ReassignTask():
                self._services.tasks.reassign_task(ctx, task_id, intent.assigned_to)
            case SetTaskDueDate():
                self._services.tasks.set_task_due_date(ctx, task_id, intent.due_date)
            case UpdateTask():
                self._services.tasks.update_task(ctx, task_id, intent.changes.set_fields())
            case _:
                assert_never(intent)
        result = self._result(ctx, task_id)
        if changes_task_status(intent):
            result.task_status_changed = self._execution_signal(ctx, task_id)
        return result

    def _assign_task(self, ctx: CommandContext, task_id: UUID, cmd: AssignTask) -> CommandResult:
        tasks = self._services.tasks
        draft = TaskDraft(
            task_id=task_id,
            title=cmd.title,
            assigned_to=cmd.assigned_to,
            description=cmd.description,
            priority=cmd.priority,
            due_date=cmd.due_date,
            metadata=dict(cmd.metadata),
        )
        tasks.assign_task(ctx, draft)
        if cmd.status == "todo":
            return self._result(ctx, task_id)
        # A second command of its own: one command id must not write two saves.
        status_ctx = ctx.caused_by(f"{ctx.command_id}#status")
        tasks.change_task_status(status_ctx, task_id, cmd.status)
        return self._result(ctx, task_id, status_ctx)

    def _execution_signal(self, ctx: CommandContext, task_id: UUID) -> TaskStatusChanged | None:
        """What to tell the execution that created the task, if one did: its waiting step wakes."""
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

    # -- contacts ------------------------------------------------------------------------------

    def contact(self, cmd: ContactIntent | ContactCommand) -> CommandResult:
        intent = contact_from_legacy(cmd) if isinstance(cmd, ContactCommand) else cmd
        ctx = command_context(intent.meta)
        contact_id = _uuid("contact", intent.contact_id)
        contacts = self._services.contacts
        match intent:
            case CreateContact():
                draft = ContactDraft(
                    contact_id=contact_id,
                    first_name=intent.first_name,
                    last_name=intent.last_name,
                    email=intent.email,
                    phone=intent.phone,
                    status=intent.status,
                    fields=dict(intent.fields),
                )
                contacts.create_contact(ctx, draft)
            case UpdateContact():
                contacts.update_contact(ctx, contact_id, intent.changes.set_fields())
            case ChangeContactStatus():
                contacts.change_contact_status(ctx, contact_id, intent.status)
            case ArchiveContact():
                contacts.archive_contact(ctx, contact_id, intent.reason)
            case ExportContact():
                contacts.record_contact_export(ctx, contact_id, intent.format)
            case EraseContact():
                contacts.erase_contact(ctx, contact_id, intent.reason)
            case _:
                assert_never(intent)
        return self._result(ctx, contact_id)

    # -- definitions ---------------------------------------------------------------------------

    def definition(self, cmd: DefinitionIntent | DefinitionCommand) -> CommandResult:
        intent = definition_from_legacy(cmd) if isinstance(cmd, DefinitionCommand) else cmd
        ctx = command_context(intent.meta)
        definition_id = _uuid("definition", intent.definition_id)
        definitions = self._services.definitions
        match intent:
            case CreateDefinition():
                definitions.create_definition(ctx, intent.body, definition_id)
            case PublishDefinitionVersion():
                definitions.publish_version(ctx, definition_id, intent.body)
            case ActivateDefinition():
                definitions.activate(ctx, definition_id)
            case DeactivateDefinition():
                definitions.deactivate(ctx, definition_id)
            case RotateWebhookSecret():
                definitions.rotate_webhook_secret(ctx, definition_id)
            case _:
                assert_never(intent)
        result = self._result(ctx, definition_id)
        definition = definitions.get_definition(ctx, definition_id)
        result.version = definition.current_version
        result.webhook_secret_generation = definition.webhook_secret_generation
        return result

    # -- administrators' actions ---------------------------------------------------------------

    def admin(self, cmd: AdminCommand) -> CommandResult:
        ctx = command_context(cmd.meta)
        action_id = self._services.admin.record_action(ctx, cmd.action, cmd.target, cmd.parameters)
        return self._result(ctx, action_id)

    # -- reads for schedule triggers -----------------------------------------------------------

    def find_definition(self, org_id: str, definition_id: str) -> ScheduledDefinition | None:
        """The definition as recorded now, or None when there is none (any more)."""
        try:
            key = UUID(definition_id)
            ctx = CommandContext.new(org_id, source="schedule")
            definition = self._services.definitions.get_definition(ctx, key)
        except (ValueError, NotFoundError):
            return None
        return ScheduledDefinition(
            is_active=definition.is_active,
            trigger=dict(definition.trigger),
            version=definition.current_version,
            body=definition.get_version(definition.current_version),
        )
