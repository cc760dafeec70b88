"""Runs a secret command: opens the value the API sealed, then records the change and stores
the value (application/services/secrets.py).

A value that does not open (the API and the worker hold different master keys) and a store that
cannot decrypt its own keys are configuration errors no retry fixes: they fail the command at
once, with the reason, instead of retrying for the command window.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from application.secrets import SecretStoreError
from application.services.secrets import SecretService
from worker.activities.context import command_context
from worker.contracts import CommandResult
from worker.secret_contracts import SecretCommand
from worker.secret_transit import SealedValueError, open_value
from worker.secret_values import remember

SECRET_STORE_ERROR = "SecretStoreError"


class SecretCommandHandler:
    def __init__(self, service: SecretService, master_key: bytes) -> None:
        self._service = service
        self._master_key = master_key

    def __call__(self, cmd: SecretCommand) -> CommandResult:
        ctx = command_context(cmd.meta)
        try:
            if cmd.action == "set":
                if cmd.sealed_value is None:
                    raise SealedValueError(f"the command to set secret {cmd.name} has no value")
                value = open_value(self._master_key, ctx.org_id, cmd.name, cmd.sealed_value)
                remember([value])  # masked in this process's log lines
                change = self._service.set_secret(ctx, cmd.name, value)
            else:
                change = self._service.delete_secret(ctx, cmd.name)
        except (SealedValueError, SecretStoreError) as error:
            raise ApplicationError(
                str(error), type=SECRET_STORE_ERROR, non_retryable=True
            ) from None
        return CommandResult(
            id=change.name,
            version=change.revision,
            position=self._service.position_of(ctx.command_id),
        )
