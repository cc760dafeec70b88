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
from typing import Any
from uuid import UUID

from psycopg import Connection, sql
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


def fetch_page(
    conn: Connection[Any],
    *,
    table: str,
    columns: Sequence[str],
    conditions: Sequence[tuple[str, Sequence[Any]]],
    limit: int,
    cursor: str | None,
) -> Page:
    """One page of `table`, filtered by `conditions` (SQL fragments with their parameters).

    The fragments are fixed SQL text written in this package, never caller input; values always
    travel as parameters.
    """
    limit = check_limit(limit)
    where = list(conditions)
    if cursor is not None:
        created_at, row_id = decode_cursor(cursor)
        where.append(("(created_at, id) < (%s, %s)", (created_at, row_id)))
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %s"
    ).format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=sql.Identifier(table),
        where=sql.SQL(" AND ").join(sql.SQL(fragment) for fragment, _ in where)
        if where
        else sql.SQL("true"),
    )
    params: list[Any] = [value for _, values in where for value in values]
    params.append(limit + 1)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    last = rows[limit - 1]
    return Page(items=rows[:limit], next_cursor=encode_cursor(last["created_at"], last["id"]))


def fetch_one(
    conn: Connection[Any], *, table: str, columns: Sequence[str], org_id: str, row_id: object
) -> dict[str, Any] | None:
    """The row `row_id` of `org_id`, or None (also for another org's id or a malformed id)."""
    key = as_uuid(row_id)
    if key is None:
        return None
    query = sql.SQL("SELECT {columns} FROM {table} WHERE org_id = %s AND id = %s").format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=sql.Identifier(table),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, (org_id, key))
        return cur.fetchone()


def as_uuid(value: object) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None
