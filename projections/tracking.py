"""The ``projection_tracking`` table: each projection's position in the event stream.

A batch reads its tracking row FOR UPDATE, writes its rows, and moves the position in the same
transaction. The row lock serialises any two transactions working on one projection (even if
the advisory lock were bypassed): the second waits, then sees the first one's committed position
and reads on from there. That, not the advisory lock, is what guarantees exactly-once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.errors import ProjectionError

# Error texts are for people reading a status page; a full traceback belongs in the logs.
_MAX_ERROR_CHARS = 4000


def ensure(conn: Connection[Any], names: Iterable[str]) -> None:
    """Create tracking rows at position 0 for projections that have none yet."""
    conn.execute(
        "INSERT INTO projection_tracking (name) SELECT unnest(%s::text[])"
        " ON CONFLICT (name) DO NOTHING",
        (list(names),),
    )


def lock(conn: Connection[Any], name: str) -> int:
    """The committed position of `name`, row-locked until the caller's transaction ends."""
    row = conn.execute(
        "SELECT position FROM projection_tracking WHERE name = %s FOR UPDATE", (name,), prepare=True
    ).fetchone()
    if row is None:
        raise ProjectionError(f"projection {name!r} has no tracking row (tracking.ensure first)")
    position: int = row[0]
    return position


def advance(conn: Connection[Any], name: str, position: int) -> None:
    """Move `name` to `position`; a successful batch also ends an error streak."""
    conn.execute(
        "UPDATE projection_tracking SET position = %s, updated_at = now(), error_count = 0,"
        " state = CASE WHEN state = 'error' THEN 'running' ELSE state END"
        " WHERE name = %s",
        (position, name),
        prepare=True,
    )


def record_error(conn: Connection[Any], name: str, error: str) -> None:
    """Mark `name` as failing; `last_error` stays after recovery, for the status page."""
    conn.execute(
        "UPDATE projection_tracking SET state = 'error', last_error = %s, last_error_at = now(),"
        " error_count = error_count + 1, updated_at = now() WHERE name = %s",
        (error[:_MAX_ERROR_CHARS], name),
    )


def get(conn: Connection[Any], name: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM projection_tracking WHERE name = %s", (name,))
        return cur.fetchone()
