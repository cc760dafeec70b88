"""Builds the event store's connection pool, recorder and mapper from a database URL.

One instance is shared by every application service of a process (the composition root builds
it), so they share one pool rather than each opening their own.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict

from application.store.recorder import EventsRecorder
from application.store.transcoder import EventMapper


class EventStoreInfrastructure:
    def __init__(self, database_url: str, *, pool_size: int = 5, max_overflow: int = 10) -> None:
        params: dict[str, Any] = conninfo_to_dict(database_url)
        self.datastore = PostgresDatastore(
            dbname=str(params.get("dbname", "postgres")),
            host=str(params.get("host", "127.0.0.1")),
            port=str(params.get("port", "5432")),
            user=str(params.get("user", "postgres")),
            password=str(params.get("password", "")),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # Writers queue on the table lock; fail loudly rather than hang forever.
            lock_timeout=10,
        )
        self.recorder = EventsRecorder(self.datastore)
        self.mapper = EventMapper()

    def close(self) -> None:
        self.datastore.close()
