"""An event store in memory, for a dry run of a definition (worker/dry_run.py).

The command services and the engine's activities run unchanged over it: the same aggregates,
the same command methods, the same idempotency (a retried command collides on its aggregate
version and finds its first outcome by command id), the same metadata rule. Nothing reaches
Postgres, and everything recorded is dropped with the store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresDatastore

from application.metadata import EventMetadata
from application.privacy.keys import ContactKeys
from application.store.infrastructure import EventStoreInfrastructure
from application.store.recorder import EventsRecorder, names_from_topic
from application.store.transcoder import EventMapper


@dataclass(frozen=True)
class RecordedInMemory:
    """One stored event with what the events table would hold beside it."""

    event: StoredEvent
    aggregate_type: str
    event_type: str
    occurred_at: datetime
    command_id: str


class MemoryRecorder(POPOApplicationRecorder):
    """The library's in-memory recorder, with what the services ask of ours: metadata on every
    save, and a command's outcome by its id."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[RecordedInMemory] = []
        self._outcomes: dict[str, UUID] = {}

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        metadata = kwargs.get("metadata")
        if not isinstance(metadata, EventMetadata):
            raise ProgrammingError("events are saved with metadata=EventMetadata(...)")
        positions = super().insert_events(stored_events, **kwargs)
        command_id = metadata.context.command_id
        with self._database_lock:
            for stored in stored_events:
                aggregate_type, event_type = names_from_topic(stored.topic)
                self.recorded.append(
                    RecordedInMemory(
                        stored, aggregate_type, event_type, metadata.occurred_at, command_id
                    )
                )
                originator = stored.originator_id
                self._outcomes.setdefault(
                    command_id, originator if isinstance(originator, UUID) else UUID(originator)
                )
        return positions

    def command_outcome(self, command_id: str) -> UUID | None:
        return self._outcomes.get(command_id)

    def command_position(self, command_id: str) -> int | None:
        with self._database_lock:
            found = [n for n, r in enumerate(self.recorded, 1) if r.command_id == command_id]
        return found[-1] if found else None


class MemoryStore(EventStoreInfrastructure):
    """What `Services` are built on, in memory: no pool, no doorbell, nothing to close.

    Personal data is kept in clear: the services' event store seals a contact's data with a key
    held in Postgres (application/store/personal.py), but these events never leave the process
    and are dropped with it, so there is nothing to seal. The contact keys are there for the
    services' constructor only: with sealing off they are never asked for a key (there is no
    datastore behind them, and the master key is a fresh random one)."""

    def __init__(self) -> None:  # no super().__init__(): it would open a Postgres pool
        self.memory = MemoryRecorder()
        # The services use only what both recorders have: inserting and selecting events and
        # a command's outcome (application/services/base.py).
        self.recorder = cast(EventsRecorder, self.memory)
        self.mapper = EventMapper()
        self.sealing = False
        self.contact_keys = ContactKeys(cast(PostgresDatastore, None), os.urandom(32))

    def close(self) -> None:
        """Nothing to release: the events go with the object."""
