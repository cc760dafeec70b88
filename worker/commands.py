"""Commands on contacts, tasks and definitions: one small model per intent.

A route builds the command that says what its caller means (`CompleteTask`, `ReassignTask`), the
command workflow of its aggregate carries it, and `worker.activities.commands` has one handler
per class. A field that only one intent has lives on that intent, typed, instead of in a
``changes`` dict that every handler must pick apart.

Each union below also accepts the older ``action`` + ``changes`` shapes of `worker.contracts`
(`TaskCommand`, `ContactCommand`, `DefinitionCommand`): workflows recorded or started before the
split still decode and replay, and `from_legacy` turns them into an intent where they are run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    model_serializer,
)

from domain.errors import InvalidValueError
from worker.contracts import CommandMeta, ContactCommand, DefinitionCommand, TaskCommand

LEGACY = "legacy"


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    meta: CommandMeta


class Patch(BaseModel):
    """The fields a PATCH set, and only those: unset fields stay out of the JSON, so the worker
    sees the same ``model_fields_set`` as the API that built the patch (null still clears)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_serializer(mode="wrap")
    def _only_what_was_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}

    def set_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


def _kind(value: Any) -> str:
    """The tag of a command, from a model or its JSON; the older shapes have none."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return str(kind) if kind is not None else LEGACY


# -- tasks -----------------------------------------------------------------------------------


class AssignTask(Command):
    """Create a task and assign it (``POST /tasks``); a `status` other than todo is applied
    right after, as a second change."""

    kind: Literal["assign_task"] = "assign_task"
    task_id: str
    title: str
    assigned_to: str
    description: str | None = None
    priority: str = "medium"
    due_date: AwareDatetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: str = "todo"


class CompleteTask(Command):
    """Mark a task done; `metadata` is the outcome (a review's decision, say)."""

    kind: Literal["complete_task"] = "complete_task"
    task_id: str
    metadata: dict[str, Any] | None = None


class ChangeTaskStatus(Command):
    kind: Literal["change_task_status"] = "change_task_status"
    task_id: str
    status: str
    metadata: dict[str, Any] | None = None


class ReassignTask(Command):
    kind: Literal["reassign_task"] = "reassign_task"
    task_id: str
    assigned_to: str


class SetTaskDueDate(Command):
    """Set or (with None) clear a task's due date."""

    kind: Literal["set_task_due_date"] = "set_task_due_date"
    task_id: str
    due_date: AwareDatetime | None


class TaskChanges(Patch):
    title: str | None = None
    description: str | None = None
    priority: str | None = None
    metadata: dict[str, Any] | None = None
    assigned_to: str | None = None
    due_date: AwareDatetime | None = None
    status: str | None = None


class UpdateTask(Command):
    """Several changes of one task at once, applied as one save (a PATCH with many fields)."""

    kind: Literal["update_task"] = "update_task"
    task_id: str
    changes: TaskChanges


TaskIntent = (
    AssignTask | CompleteTask | ChangeTaskStatus | ReassignTask | SetTaskDueDate | UpdateTask
)
TaskCommandInput = Annotated[
    Annotated[AssignTask, Tag("assign_task")]
    | Annotated[CompleteTask, Tag("complete_task")]
    | Annotated[ChangeTaskStatus, Tag("change_task_status")]
    | Annotated[ReassignTask, Tag("reassign_task")]
    | Annotated[SetTaskDueDate, Tag("set_task_due_date")]
    | Annotated[UpdateTask, Tag("update_task")]
    | Annotated[TaskCommand, Tag(LEGACY)],
    Discriminator(_kind),
]


def task_patch(meta: CommandMeta, task_id: str, fields: dict[str, Any]) -> TaskIntent:
    """The intent of a PATCH of a task: the narrowest command that says what it changes."""
    changes = TaskChanges.model_validate(fields)
    present = changes.model_fields_set
    if changes.status is not None and present <= {"status", "metadata"}:
        if changes.status == "done":
            return CompleteTask(meta=meta, task_id=task_id, metadata=changes.metadata)
        return ChangeTaskStatus(
            meta=meta, task_id=task_id, status=changes.status, metadata=changes.metadata
        )
    if present == {"assigned_to"} and changes.assigned_to is not None:
        return ReassignTask(meta=meta, task_id=task_id, assigned_to=changes.assigned_to)
    if present == {"due_date"}:
        return SetTaskDueDate(meta=meta, task_id=task_id, due_date=changes.due_date)
    return UpdateTask(meta=meta, task_id=task_id, changes=changes)


def changes_task_status(cmd: TaskIntent) -> bool:
    """Whether the execution that created the task must hear of this command."""
    if isinstance(cmd, CompleteTask | ChangeTaskStatus):
        return True
    return isinstance(cmd, UpdateTask) and cmd.changes.status is not None


# -- contacts --------------------------------------------------------------------------------


class CreateContact(Command):
    kind: Literal["create_contact"] = "create_contact"
    contact_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    status: str = "active"
    fields: dict[str, Any] = Field(default_factory=dict)


class ContactChanges(Patch):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    status: str | None = None
    # Merged into the custom fields; a key set to null removes it.
    fields: dict[str, Any] | None = None


class UpdateContact(Command):
    kind: Literal["update_contact"] = "update_contact"
    contact_id: str
    changes: ContactChanges


class ChangeContactStatus(Command):
    kind: Literal["change_contact_status"] = "change_contact_status"
    contact_id: str
    status: str


class ArchiveContact(Command):
    kind: Literal["archive_contact"] = "archive_contact"
    contact_id: str
    reason: str | None = None


class EraseContact(Command):
    """Erases the person's data: their key is destroyed, `Contact.Erased` records who and why."""

    kind: Literal["erase_contact"] = "erase_contact"
    contact_id: str
    reason: str


class ExportContact(Command):
    """Records that the contact's data was exported (an access event; nothing changes)."""

    kind: Literal["export_contact"] = "export_contact"
    contact_id: str
    format: Literal["json"] = "json"


ContactIntent = (
    CreateContact
    | UpdateContact
    | ChangeContactStatus
    | ArchiveContact
    | ExportContact
    | EraseContact
)
ContactCommandInput = Annotated[
    Annotated[CreateContact, Tag("create_contact")]
    | Annotated[UpdateContact, Tag("update_contact")]
    | Annotated[ChangeContactStatus, Tag("change_contact_status")]
    | Annotated[ArchiveContact, Tag("archive_contact")]
    | Annotated[ExportContact, Tag("export_contact")]
    | Annotated[EraseContact, Tag("erase_contact")]
    | Annotated[ContactCommand, Tag(LEGACY)],
    Discriminator(_kind),
]


def contact_patch(meta: CommandMeta, contact_id: str, fields: dict[str, Any]) -> ContactIntent:
    """The intent of a PATCH of a contact."""
    changes = ContactChanges.model_validate(fields)
    if changes.model_fields_set == {"status"} and changes.status is not None:
        return ChangeContactStatus(meta=meta, contact_id=contact_id, status=changes.status)
    return UpdateContact(meta=meta, contact_id=contact_id, changes=changes)


# -- definitions -----------------------------------------------------------------------------


class CreateDefinition(Command):
    kind: Literal["create_definition"] = "create_definition"
    definition_id: str
    body: dict[str, Any]


class PublishDefinitionVersion(Command):
    """A new version; running executions keep the version they started with."""

    kind: Literal["publish_definition_version"] = "publish_definition_version"
    definition_id: str
    body: dict[str, Any]


class ActivateDefinition(Command):
    kind: Literal["activate_definition"] = "activate_definition"
    definition_id: str


class DeactivateDefinition(Command):
    kind: Literal["deactivate_definition"] = "deactivate_definition"
    definition_id: str


class RotateWebhookSecret(Command):
    kind: Literal["rotate_webhook_secret"] = "rotate_webhook_secret"
    definition_id: str


DefinitionIntent = (
    CreateDefinition
    | PublishDefinitionVersion
    | ActivateDefinition
    | DeactivateDefinition
    | RotateWebhookSecret
)
DefinitionCommandInput = Annotated[
    Annotated[CreateDefinition, Tag("create_definition")]
    | Annotated[PublishDefinitionVersion, Tag("publish_definition_version")]
    | Annotated[ActivateDefinition, Tag("activate_definition")]
    | Annotated[DeactivateDefinition, Tag("deactivate_definition")]
    | Annotated[RotateWebhookSecret, Tag("rotate_webhook_secret")]
    | Annotated[DefinitionCommand, Tag(LEGACY)],
    Discriminator(_kind),
]


def changes_schedule(cmd: DefinitionIntent | DefinitionCommand) -> bool:
    """Whether the command may start, change or stop the definition's `schedule` trigger."""
    if isinstance(cmd, DefinitionCommand):
        return cmd.action in ("activate", "deactivate", "publish")
    return isinstance(cmd, ActivateDefinition | DeactivateDefinition | PublishDefinitionVersion)


# -- the older shapes ------------------------------------------------------------------------

_DEFINITION_INTENTS: dict[str, type[DefinitionIntent]] = {
    "create": CreateDefinition,
    "publish": PublishDefinitionVersion,
    "activate": ActivateDefinition,
    "deactivate": DeactivateDefinition,
    "rotate_secret": RotateWebhookSecret,
}


def task_from_legacy(cmd: TaskCommand) -> TaskIntent:
    with _refused_as_invalid():
        if cmd.action == "assign":
            return AssignTask.model_validate(
                {**cmd.changes, "meta": cmd.meta, "task_id": cmd.task_id}
            )
        return task_patch(cmd.meta, cmd.task_id, cmd.changes)


def contact_from_legacy(cmd: ContactCommand) -> ContactIntent:
    with _refused_as_invalid():
        if cmd.action == "create":
            return CreateContact.model_validate(
                {**cmd.changes, "meta": cmd.meta, "contact_id": cmd.contact_id}
            )
        if cmd.action == "update":
            return contact_patch(cmd.meta, cmd.contact_id, cmd.changes)
        return ArchiveContact(meta=cmd.meta, contact_id=cmd.contact_id, reason=cmd.reason)


def definition_from_legacy(cmd: DefinitionCommand) -> DefinitionIntent:
    with _refused_as_invalid():
        fields: dict[str, Any] = {"meta": cmd.meta, "definition_id": cmd.definition_id}
        if cmd.action in ("create", "publish"):
            fields["body"] = cmd.body
        return _DEFINITION_INTENTS[cmd.action].model_validate(fields)


@contextmanager
def _refused_as_invalid() -> Iterator[None]:
    """An older command that does not make a valid intent is refused, naming its first bad
    field: a refusal, not a crash that Temporal would retry."""
    try:
        yield
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidValueError(f"{field}: {first['msg']}", field=field) from None
