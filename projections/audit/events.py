"""``GET /events``: the event store itself, filtered, paged by position or streamed whole.

Auditors read the store rather than the read models because the store is the record: every
fact, in the one order it happened (position), with who and which workflow caused it. Every
query is scoped by ``org_id`` first; the other filters narrow it and combine with AND.

Paging is keyset on ``position`` (the cursor is the last item's position), so a page costs the
same anywhere in a store of millions and events appended while a client pages are picked up at
the end, never duplicated or skipped: writers append in position order under a table lock.
Streaming uses a server-side cursor so that exporting every event of an org holds one chunk
in memory at a time, on the server and here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.audit.aggregates import aggregate_class
from projections.audit.items import ITEM_COLUMNS, as_uuid, event_item, require_aware
from projections.errors import InvalidCursorError
from projections.queries.pagination import DEFAULT_LIMIT, Page, check_limit

DEFAULT_CHUNK_SIZE = 1000
_POSITION = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class EventFilter:
    """What `list_events` and `stream_events` filter on; None means "any".

    `since` and `until` bound ``occurred_at`` as a half-open range ``[since, until)``, so that
    consecutive windows (Monday to Tuesday, Tuesday to Wednesday) never count an event twice.
    `after` is a position: only events recorded after it (what ``tail`` resumes from).
    """

    aggregate_type: str | None = None
    aggregate_id: object | None = None
    event_type: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    correlation_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None

    def where(self, org_id: str) -> tuple[str, list[Any]]:
        """The WHERE clause (fixed SQL text of this module) and its parameters."""
        if self.aggregate_type is not None:
            aggregate_class(self.aggregate_type)  # ValueError naming the valid types
        require_aware(self.since, "since")
        require_aware(self.until, "until")
        fragments = ["org_id = %s"]
        params: list[Any] = [org_id]
        for column, value in (
            ("aggregate_type", self.aggregate_type),
            ("event_type", self.event_type),
            ("workflow_id", self.workflow_id),
            ("workflow_run_id", self.run_id),
            ("correlation_id", self.correlation_id),
            ("actor", self.actor),
        ):
            if value is not None:
                fragments.append(f"{column} = %s")
                params.append(value)
        if self.aggregate_id is not None:
            key = as_uuid(self.aggregate_id)
            if key is None:
                fragments.append("false")  # a malformed id names no aggregate: no match
            else:
                fragments.append("originator_id = %s")
                params.append(key)
        if self.since is not None:
            fragments.append("occurred_at >= %s")
            params.append(self.since)
        if self.until is not None:
            fragments.append("occurred_at < %s")
            params.append(self.until)
        if self.after is not None:
            fragments.append("position > %s")
            params.append(check_position(self.after, "after"))
        return " AND ".join(fragments), params


def list_events(
    conn: Connection[Any],
    org_id: str,
    *,
    aggregate_type: str | None = None,
    aggregate_id: object | None = None,
    event_type: str | None = None,
    workflow_id: str | None = None,
    run_id: str | None = None,
    correlation_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """One page of `org_id`'s events matching every given filter, oldest position first.

    `next_cursor` is the last item's position as a string, None on the last page.
    ValueError for a bad limit, unknown aggregate type or naive time; InvalidCursorError for a
    cursor this function did not produce.
    """
    limit = check_limit(limit)
    filters = EventFilter(
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        event_type=event_type,
        workflow_id=workflow_id,
        run_id=run_id,
        correlation_id=correlation_id,
        actor=actor,
        since=since,
        until=until,
        after=after,
    )
    where, params = filters.where(org_id)
    if cursor is not None:
        where += " AND position > %s"
        params.append(decode_cursor(cursor))
    query = f"SELECT {ITEM_COLUMNS} FROM events WHERE {where} ORDER BY position LIMIT %s"
    params.append(limit + 1)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query.encode(), params)
        rows = cur.fetchall()
    items = [event_item(row) for row in rows[:limit]]
    next_cursor = str(items[-1]["position"]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def stream_events(
    conn: Connection[Any],
    org_id: str,
    *,
    aggregate_type: str | None = None,
    aggregate_id: object | None = None,
    event_type: str | None = None,
    workflow_id: str | None = None,
    run_id: str | None = None,
    correlation_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Generator[dict[str, Any], None, None]:
    """Every matching event of `org_id`, in position order, however many there are.

    Rows come through a named (server-side) cursor, `chunk_size` at a time, inside a
    transaction on `conn` that lasts until the generator is exhausted or closed (close it when
    a client goes away mid-stream): one consistent snapshot for the whole export. Bad filters
    raise here, before the first item, so an HTTP handler can still answer 422 instead of
    breaking a stream it already started.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    filters = EventFilter(
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        event_type=event_type,
        workflow_id=workflow_id,
        run_id=run_id,
        correlation_id=correlation_id,
        actor=actor,
        since=since,
        until=until,
        after=after,
    )
    where, params = filters.where(org_id)
    query = f"SELECT {ITEM_COLUMNS} FROM events WHERE {where} ORDER BY position"
    return _stream(conn, query, params, chunk_size)


def _stream(
    conn: Connection[Any], query: str, params: list[Any], chunk_size: int
) -> Generator[dict[str, Any], None, None]:
    name = f"audit_events_{uuid.uuid4().hex[:12]}"
    with (
        conn.transaction(),
        conn.cursor(name, row_factory=dict_row) as cur,
    ):
        cur.itersize = chunk_size
        cur.execute(query.encode(), params)
        for row in cur:
            yield event_item(row)


def decode_cursor(cursor: str) -> int:
    if not isinstance(cursor, str) or _POSITION.fullmatch(cursor) is None:
        raise InvalidCursorError(
            "cursor is malformed: pass back the next_cursor of a previous page unchanged, "
            "or leave it out to start from the first page"
        )
    return int(cursor)


def check_position(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a position (an integer from 0 up), not {value!r}")
    return value
