"""Activities of the contact, task, definition and admin command workflows.

Thin adapters: each hands its command to the handlers it was given (`worker.handlers`), so this
module imports nothing from `application` and the command workflows can call these methods by
typed reference (`workflow.execute_activity_method(CommandActivities.task_command, ...)`): a
renamed activity then fails type-checking, not a running workflow.

Plain ``def`` methods: the services use a blocking driver, so the worker runs these on a thread
pool rather than stalling its event loop. Log context and refusals are the interceptor's
(`worker.interceptors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from temporalio import activity

from worker.commands import (
    ContactCommandInput,
    ContactIntent,
    DefinitionCommandInput,
    DefinitionIntent,
    TaskCommandInput,
    TaskIntent,
)
from worker.contracts import (
    AdminCommand,
    CommandResult,
    ContactCommand,
    DefinitionCommand,
    TaskCommand,
)


class Handlers(Protocol):
    """What the activities need from `worker.handlers.CommandHandlers`."""

    def task(self, cmd: TaskIntent | TaskCommand) -> CommandResult: ...

    def contact(self, cmd: ContactIntent | ContactCommand) -> CommandResult: ...

    def definition(self, cmd: DefinitionIntent | DefinitionCommand) -> CommandResult: ...

    def admin(self, cmd: AdminCommand) -> CommandResult: ...


class CommandActivities:
    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers

    @activity.defn(name="task_command")
    def task_command(self, cmd: TaskCommandInput) -> CommandResult:
        return self._handlers.task(cmd)

    @activity.defn(name="contact_command")
    def contact_command(self, cmd: ContactCommandInput) -> CommandResult:
        return self._handlers.contact(cmd)

    @activity.defn(name="definition_command")
    def definition_command(self, cmd: DefinitionCommandInput) -> CommandResult:
        return self._handlers.definition(cmd)

    @activity.defn(name="admin_command")
    def admin_command(self, cmd: AdminCommand) -> CommandResult:
        return self._handlers.admin(cmd)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for the worker to register."""
        return [
            self.task_command,
            self.contact_command,
            self.definition_command,
            self.admin_command,
        ]
