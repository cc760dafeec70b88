"""The activity of the secret command workflow: a thin adapter over its handler
(worker/secret_handlers.py), so that workflow code can call it by typed reference without
importing `application`."""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from worker.contracts import CommandResult
from worker.secret_contracts import SecretCommand


class SecretHandler(Protocol):
    def __call__(self, cmd: SecretCommand) -> CommandResult: ...


class SecretActivities:
    def __init__(self, handler: SecretHandler) -> None:
        self._handler = handler

    @activity.defn(name="secret_command")
    def secret_command(self, cmd: SecretCommand) -> CommandResult:
        return self._handler(cmd)
