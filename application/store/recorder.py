"""The eventsourcing library's Postgres application recorder, writing our ``events`` table.

We keep the library's guarantees (followers never pass over an event that commits late, a NOTIFY
to wake them — sent after the commit, application/store/doorbell.py — IntegrityError on a
version conflict, retries on a dropped connection) and change the row it writes: metadata goes
into indexed columns, the event itself into a ``jsonb`` column that SQL can read, and each event
gets an ``event_id`` derived from its command so that a retried command collides with its own
earlier events instead of appending copies.

An append is one statement, ``events_append_rows(...)``, in autocommit mode: one round trip, and no
lock on the table (migration 0009); the first save of a new contact stores the contact's key in that
same statement (migration 0015). It goes through libpq directly (application/store/append.py):
psycopg's cursor cost a third of a command's client CPU. The library serialises writers with an
EXCLUSIVE table lock so that positions commit in order; we let them commit in any order and make
readers stop at the *safe head* instead (``events_safe_head()``, projections/horizon.py): a position
below which nothing can still commit. ``select_notifications`` and ``max_notification_id`` read only
up to it, so the library's followers keep their guarantee. The table itself is created by
``migrations/``, not by the library.
"""

from __future__ import annotations

import re
import uuid
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from json import JSONEncoder
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.sql import SQL

from application.metadata import EventMetadata
from application.store.append import append
from application.store.doorbell import Doorbell
from domain.codec import KeyedStoredEvent
from domain.personal import KeyRow

EVENTS_CHANNEL = "events"
# Namespace of event ids: uuid5(EVENT_ID_NAMESPACE, "<command id>:<aggregate id>:<n>").
EVENT_ID_NAMESPACE = uuid.UUID("5d7c4c1e-8a3e-4b43-9a4c-6f1f0b2e7a10")

# Each event with the key row of the contact its personal data belongs to, read in the same
# snapshot: an erased contact's key is never found (application/store/personal.py).
_SELECT_EVENTS = SQL(
    "SELECT originator_id, originator_version, topic, convert_to(data::text, 'UTF8') AS state,"
    " k.org_id AS key_org_id, k.wrapped_key, k.master_key_id"
    " FROM events LEFT JOIN contact_keys k"
    " ON k.contact_id = (events.data->'_personal'->>'contact')::uuid"
    " WHERE originator_id = %s"
)
_SELECT_NOTIFICATIONS = SQL(
    "SELECT position, originator_id, originator_version, topic, data::text AS state"
    " FROM events WHERE position > %s AND position <= %s AND (%s OR topic = ANY(%s))"
    " ORDER BY position LIMIT %s"
)
# How long a one-off read waits for appends in flight below the last drawn position.
SAFE_HEAD_WAIT = "5 seconds"
_SAFE_HEAD = SQL("SELECT events_safe_head(%s::interval) AS head")
_LAST_AT_OR_BELOW = SQL("SELECT max(position) AS position FROM events WHERE position <= %s")
_dumps = JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_F = TypeVar("_F", bound=Callable[..., Any])


def _retried(func: _F) -> _F:
    """The library's own retry of recorder methods on a dropped connection (same exceptions —
    the library's, which its datastore raises for psycopg's — attempts and wait as
    eventsourcing.postgres), kept typed for mypy."""
    decorate = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    return cast(_F, decorate(func))


@lru_cache(maxsize=1024)
def names_from_topic(topic: str) -> tuple[str, str]:
    """``domain.task:Task.StatusChanged`` → (``task``, ``Task.StatusChanged``)."""
    _, _, qualname = topic.partition(":")
    aggregate_class = qualname.split(".", 1)[0]
    return _CAMEL.sub("_", aggregate_class).lower(), qualname


def _stored(row: Any) -> StoredEvent:
    """A row of `_SELECT_EVENTS`: with its contact's key row when its data has personal data
    (a plain StoredEvent otherwise, as the library's own recorder returns)."""
    if row["key_org_id"] is None:
        return StoredEvent(
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )
    wrapped = row["wrapped_key"]
    return KeyedStoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
        key_row=KeyRow(
            row["key_org_id"], None if wrapped is None else bytes(wrapped), row["master_key_id"]
        ),
    )


@dataclass(frozen=True)
class NewKeys:
    """Contact keys made for the events of one save and not stored yet: they are stored with
    the events, in the append's statement (application/store/personal.py)."""

    contact_ids: list[UUID]
    wrapped: list[bytes]
    master_key_id: str


class KeyExistsError(Exception):
    """A save's new contact keys were not stored, nor its events appended: a key row existed
    already for one of the contacts. The caller seals the events again with the stored key."""


def event_id_for(command_id: str, originator_id: UUID | str, nth: int) -> UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{command_id}:{originator_id}:{nth}")


class EventsRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, doorbell: Doorbell) -> None:
        """`doorbell` wakes followers after each append: the append itself sends no NOTIFY, so
        without it a follower that only LISTENs (the library's subscriptions) is never woken."""
        super().__init__(datastore, events_table_name="events")
        self.doorbell = doorbell
        self.channel_name = EVENTS_CHANNEL
        self.select_events_statement = _SELECT_EVENTS.format()

    def create_table(self) -> None:
        """Tables belong to ``migrations/``; the library must not create its own."""

    @_retried
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The events of one save, in one statement; with `new_keys` (NewKeys) the contact
        keys they are sealed under are stored in the same statement, or KeyExistsError is raised
        and nothing was appended."""
        new_keys = kwargs.get("new_keys")
        if not stored_events:
            return []
        metadata = kwargs.get("metadata")
        if not isinstance(metadata, EventMetadata):
            raise ProgrammingError(
                "events are saved with metadata=EventMetadata(...): every event names its org, "
                "actor and cause"
            )
        ctx = metadata.context
        rows: list[str] = []
        seen: dict[UUID | str, int] = {}
        for stored in stored_events:
            nth = seen.get(stored.originator_id, 0)
            seen[stored.originator_id] = nth + 1
            aggregate_type, event_type = names_from_topic(stored.topic)
            head = _dumps(
                [
                    str(event_id_for(ctx.command_id, stored.originator_id, nth)),
                    str(stored.originator_id),
                    stored.originator_version,
                    aggregate_type,
                    event_type,
                    stored.topic,
                ]
            )
            # The data is JSON already (the transcoder's): it goes into the row as it is.
            rows.append(f"{head[:-1]},{stored.state.decode()}]")
        keys: tuple[str | None, str | None] = (None, None)
        if isinstance(new_keys, NewKeys) and new_keys.contact_ids:
            pairs = [
                [str(contact_id), b64encode(wrapped).decode("ascii")]
                for contact_id, wrapped in zip(new_keys.contact_ids, new_keys.wrapped, strict=True)
            ]
            keys = (_dumps(pairs), new_keys.master_key_id)
        with self.datastore.get_connection() as conn:
            positions = append(
                conn,
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
                    metadata.occurred_at.isoformat(),
                    f"[{','.join(rows)}]",
                    *keys,
                ),
            )
        if keys[0] is not None and not positions:
            raise KeyExistsError()
        self.doorbell.ring()  # committed: wake the followers (application/store/doorbell.py)
        return positions

    @_retried
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's query (same filters and order), each event with its key row."""
        statement = self.select_events_statement
        params: list[Any] = [originator_id]
        if gt is not None:
            params.append(gt)
            statement += SQL(" AND originator_version > %s")
        if lte is not None:
            params.append(lte)
            statement += SQL(" AND originator_version <= %s")
        statement += SQL(" ORDER BY originator_version") + SQL(" DESC" if desc else " ASC")
        if limit is not None:
            params.append(limit)
            statement += SQL(" LIMIT %s")
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [_stored(row) for row in curs.fetchall()]

    @_retried
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
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            head = self._safe_head(curs)
            if head is None:
                return []
            upto = head if stop is None else min(stop, head)
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

    @_retried
    def max_notification_id(self) -> int | None:
        """The greatest recorded position a follower may read without missing a late commit.

        The safe head itself may be the position of an append that failed (a version conflict
        draws a position and rolls back), so the answer is the last event at or below it, read
        in a second statement whose snapshot is newer than the wait. None for an empty store
        (as the library answers), and while an append stays in flight for longer than
        ``SAFE_HEAD_WAIT`` (a transaction held open around an insert).
        """
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            head = self._safe_head(curs)
            if head is None:
                return None
            curs.execute(_LAST_AT_OR_BELOW, (head,), prepare=True)
            row = curs.fetchone()
        return None if row is None or row["position"] is None else int(row["position"])

    @staticmethod
    def _safe_head(curs: Any) -> int | None:
        curs.execute(_SAFE_HEAD, (SAFE_HEAD_WAIT,), prepare=True)
        row = curs.fetchone()
        return None if row is None or row["head"] is None else int(row["head"])

    @_retried
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

    @_retried
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
