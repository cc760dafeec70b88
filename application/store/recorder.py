"""The eventsourcing library's Postgres application recorder, writing our ``events`` table.

We keep the library's guarantees (EXCLUSIVE table lock so positions commit in order, NOTIFY to
wake followers, IntegrityError on a version conflict) and change the row it writes: metadata goes
into indexed columns, the event itself into a ``jsonb`` column that SQL can read, and each event
gets an ``event_id`` derived from its command so that a retried command collides with its own
earlier events instead of appending copies. An append is one statement, ``events_append(...)``
(migration 0008), in autocommit mode: the lock is held only while the server inserts, never
across the client's round trips (the library's pipelined transaction held it while a busy
worker process waited for the GIL, and every other writer queued behind it).
The table itself is created by ``migrations/``, not by the library.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL

from application.metadata import EventMetadata

EVENTS_CHANNEL = "events"
# Namespace of event ids: uuid5(EVENT_ID_NAMESPACE, "<command id>:<aggregate id>:<n>").
EVENT_ID_NAMESPACE = uuid.UUID("5d7c4c1e-8a3e-4b43-9a4c-6f1f0b2e7a10")

_APPEND = SQL(
    "SELECT events_append(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " %s::uuid[], %s::uuid[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])"
    " AS notification_id"
)
_SELECT_EVENTS = SQL(
    "SELECT originator_id, originator_version, topic, convert_to(data::text, 'UTF8') AS state"
    " FROM events WHERE originator_id = %s"
)
_SELECT_NOTIFICATIONS = SQL(
    "SELECT position, originator_id, originator_version, topic, data::text AS state"
    " FROM events WHERE position > %s AND position <= %s AND (%s OR topic = ANY(%s))"
    " ORDER BY position LIMIT %s"
)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def names_from_topic(topic: str) -> tuple[str, str]:
    """``domain.task:Task.StatusChanged`` → (``task``, ``Task.StatusChanged``)."""
    _, _, qualname = topic.partition(":")
    aggregate_class = qualname.split(".", 1)[0]
    return _CAMEL.sub("_", aggregate_class).lower(), qualname


def event_id_for(command_id: str, originator_id: UUID | str, nth: int) -> UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{command_id}:{originator_id}:{nth}")


class EventsRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, events_table_name="events")
        self.channel_name = EVENTS_CHANNEL
        self.select_events_statement = _SELECT_EVENTS.format()
        self.max_notification_id_statement = SQL("SELECT MAX(position) FROM events").format()

    def create_table(self) -> None:
        """Tables belong to ``migrations/``; the library must not create its own."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        metadata = kwargs.get("metadata")
        if not isinstance(metadata, EventMetadata):
            raise ProgrammingError(
                "events are saved with metadata=EventMetadata(...): every event names its org, "
                "actor and cause"
            )
        ctx = metadata.context
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        seen: dict[UUID | str, int] = {}
        for stored in stored_events:
            nth = seen.get(stored.originator_id, 0)
            seen[stored.originator_id] = nth + 1
            aggregate_type, event_type = names_from_topic(stored.topic)
            for column, value in zip(
                columns,
                (
                    event_id_for(ctx.command_id, stored.originator_id, nth),
                    stored.originator_id,
                    stored.originator_version,
                    aggregate_type,
                    event_type,
                    stored.topic,
                    stored.state.decode(),
                ),
                strict=True,
            ):
                column.append(value)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                _APPEND,
                (
                    ctx.org_id,
                    ctx.actor,
                    ctx.source,
                    ctx.workflow_id,
                    ctx.workflow_run_id,
                    ctx.workflow_type,
                    ctx.activity_id,
                    ctx.correlation_id,
                    ctx.causation_id,
                    ctx.command_id,
                    metadata.occurred_at,
                    *columns,
                ),
                prepare=True,
            )
            return [int(row["notification_id"]) for row in curs.fetchall()]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        after = 0 if start is None else (start - 1 if inclusive_of_start else start)
        upto = stop if stop is not None else 2**63 - 1
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                _SELECT_NOTIFICATIONS,
                (after, upto, not topics, list(topics), limit),
                prepare=True,
            )
            return [
                Notification(
                    id=row["position"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"].encode(),
                )
                for row in curs.fetchall()
            ]

    def command_outcome(self, command_id: str) -> UUID | None:
        """The aggregate that a command already wrote to, if it ran before."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                "SELECT originator_id FROM events WHERE command_id = %s ORDER BY position LIMIT 1",
                (command_id,),
                prepare=True,
            )
            row = curs.fetchone()
        return None if row is None else UUID(str(row["originator_id"]))

    def command_position(self, command_id: str) -> int | None:
        """The position of the last event a command appended (for read-your-writes waits)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                "SELECT MAX(position) AS position FROM events WHERE command_id = %s",
                (command_id,),
                prepare=True,
            )
            row = curs.fetchone()
        return None if row is None or row["position"] is None else int(row["position"])
