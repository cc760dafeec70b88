"""Setting and deleting an org's secrets: the event first, then the value.

The `Secret` aggregate records that a name was set or deleted (who, when); the value goes to
the secret store (application/secrets.py), never into an event. The event is saved first, so
every stored value has the record of its setting; its aggregate version is the value's
`revision`, so a retried command (Temporal retries activities) stores its value again
harmlessly and never replaces a newer one. A crash between the two is repaired by the retry:
the command's event is found, and the value is written with its revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.errors import NotFoundError
from application.metadata import CommandContext
from application.secrets import SecretStore
from application.services.base import Clock, Outcome, Service, utc_now
from application.store.infrastructure import EventStoreInfrastructure
from domain.errors import InvalidValueError
from domain.secret import Secret, name_problem, secret_id
from domain.values import text_problem

_COMMAND_EVENT = (
    "SELECT originator_version, occurred_at FROM events WHERE command_id = %s"
    " AND originator_id = %s ORDER BY originator_version DESC LIMIT 1"
)
# A value is a credential, not a document: 8 KiB holds any API key, token or PEM key.
MAX_VALUE_BYTES = 8192


@dataclass(frozen=True)
class SecretChange:
    name: str
    revision: int
    at: datetime


def value_problem(value: object) -> str | None:
    """Why `value` cannot be stored as a secret value, or None when it can."""
    if not isinstance(value, str) or not value:
        return "The value must be a non-empty string."
    if len(value.encode()) > MAX_VALUE_BYTES:
        return f"The value is longer than {MAX_VALUE_BYTES} bytes."
    reason = text_problem(value)
    return None if reason is None else f"The value {reason}."


class SecretService(Service):
    def __init__(
        self, store: EventStoreInfrastructure, secrets: SecretStore, clock: Clock = utc_now
    ) -> None:
        super().__init__(store, clock)
        self.values = secrets

    def set_secret(self, ctx: CommandContext, name: str, value: str) -> SecretChange:
        problem = name_problem(name) or value_problem(value)
        if problem is not None:
            raise InvalidValueError(problem, field="name" if name_problem(name) else "value")
        key = secret_id(ctx.org_id, name)

        def run(now: datetime) -> Outcome:
            try:
                secret = self._load(Secret, "secret", key, ctx)
            except NotFoundError:
                secret = Secret.register(org_id=ctx.org_id, name=name, at=now)
            secret.set_value(at=now)
            return key, [secret]

        self._execute(ctx, run)
        change = self._change(ctx, key, name)
        self.values.put(
            ctx.org_id, name, value, revision=change.revision, set_by=ctx.actor, set_at=change.at
        )
        return change

    def delete_secret(self, ctx: CommandContext, name: str) -> SecretChange:
        problem = name_problem(name)
        if problem is not None:
            raise InvalidValueError(problem, field="name")
        key = secret_id(ctx.org_id, name)

        def run(now: datetime) -> Outcome:
            secret = self._load(Secret, "secret", key, ctx)
            if secret.deleted:
                raise NotFoundError("secret", name)
            secret.delete(at=now)
            return key, [secret]

        try:
            self._execute(ctx, run)
        except NotFoundError:
            raise NotFoundError("secret", name) from None
        change = self._change(ctx, key, name)
        self.values.delete(ctx.org_id, name, revision=change.revision)
        return change

    def position_of(self, command_id: str) -> int | None:
        """Where the command's last event stands in the store."""
        return self._store.recorder.command_position(command_id)

    def _change(self, ctx: CommandContext, key: UUID, name: str) -> SecretChange:
        """The version and time of the last event this command saved (its first run's, when
        this is a retry that appended nothing)."""
        with self._store.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_COMMAND_EVENT, (ctx.command_id, key))
            row = curs.fetchone()
        if row is None:
            raise NotFoundError("secret", name)
        return SecretChange(name, int(row["originator_version"]), row["occurred_at"])
