"""Keyset pagination shared by every list: newest first, by (created_at DESC, id DESC).

Keyset rather than OFFSET so that a page costs the same at row 10 and at row 1,000,000, and so
that rows created while a client pages never shift it into repeats or gaps. The cursor is the
last item's (created_at, id), as url-safe base64 of a small JSON array: opaque to clients, and
checked strictly on the way back in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row

from projections.errors import InvalidCursorError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (created_at, id) a cursor points after; InvalidCursorError for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
        created_text, id_text = json.loads(raw)
        created_at = datetime.fromisoformat(created_text)
        row_id = UUID(id_text)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        # json.JSONDecodeError and unpacking errors are ValueErrors too.
        raise InvalidCursorError(
            "cursor is malformed: pass back the next_cursor of a previous page unchanged, "
            "or leave it out to start from the first page"
        ) from None
    if created_at.tzinfo is None:
        raise InvalidCursorError("cursor is malformed: its time has no timezone")
    return created_at, row_id


@lru_cache(maxsize=256)
def _select(table: str, columns: tuple[str, ...], where: tuple[str, ...], tail: str) -> str:
    """The SQL text of a read, composed once per shape: composing identifiers costs more than
    the rest of building a read (the read bench's profile), and the shapes are few (a table,
    its column set and which filters are set), so each one is built the first time only."""
    query = sql.SQL("SELECT {columns} FROM {table} WHERE {where}{tail}").format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=sql.Identifier(table),
        where=sql.SQL(" AND ").join(sql.SQL(fragment) for fragment in where)
        if where
        else sql.SQL("true"),
        tail=sql.SQL(tail),
    )
    return query.as_string(None)


@dataclass(frozen=True)
class PageQuery:
    """One page of a list, ready to run on a connection, blocking or async.

    The API's hot reads run it on an async connection (no hop to a thread per request); the
    command read-back, the CLI and the tests on a blocking one. Both get the same SQL text and
    the same `Page`.
    """

    text: str
    params: tuple[Any, ...]
    limit: int

    def fetch(self, conn: Connection[Any]) -> Page:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(self.text, self.params)
            return self.page(cur.fetchall())

    async def afetch(self, conn: AsyncConnection[Any]) -> Page:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.text, self.params)
            return self.page(await cur.fetchall())

    def page(self, rows: list[dict[str, Any]]) -> Page:
        limit = self.limit
        if len(rows) <= limit:
            return Page(items=rows, next_cursor=None)
        last = rows[limit - 1]
        return Page(items=rows[:limit], next_cursor=encode_cursor(last["created_at"], last["id"]))


@dataclass(frozen=True)
class RowQuery:
    """One row by id, ready to run blocking or async; a malformed id runs no query (None)."""

    text: str
    params: tuple[Any, ...] | None

    def fetch(self, conn: Connection[Any]) -> dict[str, Any] | None:
        if self.params is None:
            return None
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(self.text, self.params)
            return cur.fetchone()

    async def afetch(self, conn: AsyncConnection[Any]) -> dict[str, Any] | None:
        if self.params is None:
            return None
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.text, self.params)
            return await cur.fetchone()


def page_query(
    *,
    table: str,
    columns: Sequence[str],
    conditions: Sequence[tuple[str, Sequence[Any]]],
    limit: int,
    cursor: str | None,
) -> PageQuery:
    """One page of `table`, filtered by `conditions` (SQL fragments with their parameters).

    The fragments are fixed SQL text written in this package, never caller input; values always
    travel as parameters.
    """
    limit = check_limit(limit)
    where = list(conditions)
    if cursor is not None:
        created_at, row_id = decode_cursor(cursor)
        where.append(("(created_at, id) < (%s, %s)", (created_at, row_id)))
    text = _select(
        table,
        tuple(columns),
        tuple(fragment for fragment, _ in where),
        " ORDER BY created_at DESC, id DESC LIMIT %s",
    )
    params = tuple(value for _, values in where for value in values)
    return PageQuery(text, (*params, limit + 1), limit)


def row_query(*, table: str, columns: Sequence[str], org_id: str, row_id: object) -> RowQuery:
    """The row `row_id` of `org_id` (None for another org's id or a malformed id)."""
    key = as_uuid(row_id)
    text = _select(table, tuple(columns), ("org_id = %s", "id = %s"), "")
    return RowQuery(text, None if key is None else (org_id, key))


def fetch_page(
    conn: Connection[Any],
    *,
    table: str,
    columns: Sequence[str],
    conditions: Sequence[tuple[str, Sequence[Any]]],
    limit: int,
    cursor: str | None,
) -> Page:
    """`page_query` run on a blocking connection."""
    return page_query(
        table=table, columns=columns, conditions=conditions, limit=limit, cursor=cursor
    ).fetch(conn)


def fetch_one(
    conn: Connection[Any], *, table: str, columns: Sequence[str], org_id: str, row_id: object
) -> dict[str, Any] | None:
    """The row `row_id` of `org_id`, or None (also for another org's id or a malformed id)."""
    return row_query(table=table, columns=columns, org_id=org_id, row_id=row_id).fetch(conn)


def as_uuid(value: object) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None
