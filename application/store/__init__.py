"""The Postgres event store, through the eventsourcing library's persistence."""

from application.store.infrastructure import EventStoreInfrastructure
from application.store.recorder import EventsRecorder

__all__ = ["EventStoreInfrastructure", "EventsRecorder"]
