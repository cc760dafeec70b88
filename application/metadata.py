"""Who, what and which workflow caused an event: carried on every event the services append.

Kept apart from the domain events themselves so that aggregates stay ignorant of Temporal,
HTTP and callers; the recorder writes these fields into indexed columns beside each event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class CommandContext:
    """Everything a command knows about its caller, handed to every service method.

    ``command_id`` is the idempotency key: the same command id twice appends nothing new. Inside
    a Temporal activity it derives from the workflow id and step, so a retried activity reuses it.
    """

    org_id: str
    command_id: str
    actor: str | None = None
    source: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    workflow_id: str | None = None
    workflow_run_id: str | None = None
    workflow_type: str | None = None
    activity_id: str | None = None

    def __post_init__(self) -> None:
        if not self.org_id:
            raise ValueError("a command needs an org_id: every event belongs to one org")
        if not self.command_id:
            raise ValueError("a command needs a command_id to be idempotent")

    @classmethod
    def new(cls, org_id: str, **fields: str | None) -> CommandContext:
        """A context with a fresh random command id, for callers without a natural one."""
        return cls(org_id=org_id, command_id=str(uuid.uuid4()), **fields)

    def stamped(self, occurred_at: datetime) -> EventMetadata:
        return EventMetadata(context=self, occurred_at=occurred_at)

    def caused_by(self, command_id: str) -> CommandContext:
        return replace(self, command_id=command_id, causation_id=self.command_id)


@dataclass(frozen=True)
class EventMetadata:
    """The metadata of one save: the command's context plus when it happened."""

    context: CommandContext
    occurred_at: datetime
