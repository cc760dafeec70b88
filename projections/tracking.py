"""The ``projection_tracking`` table: each projection's position in the event stream.

A batch reads its tracking row FOR UPDATE, writes its rows, and moves the position in the same
transaction. The row lock serialises any two transactions working on one projection (even if
the advisory lock were bypassed): the second waits, then sees the first one's committed position
and reads on from there. That, not the advisory lock, is what guarantees exactly-once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.errors import ProjectionError
from projections.events import RecordedEvent

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


def try_lock(conn: Connection[Any], name: str) -> int | None:
    """Like `lock`, but None at once when another transaction holds the row.

    Admin operations (a rebuild's swap, a reset, a retry of parked events) hold the live
    tracking row while they change the live tables; the live projector uses this to step
    aside for that moment instead of queueing behind them.
    """
    row = conn.execute(
        "SELECT position FROM projection_tracking WHERE name = %s FOR UPDATE SKIP LOCKED",
        (name,),
        prepare=True,
    ).fetchone()
    if row is not None:
        position: int = row[0]
        return position
    if get(conn, name) is None:
        raise ProjectionError(f"projection {name!r} has no tracking row (tracking.ensure first)")
    return None


def position_of(conn: Connection[Any], name: str) -> int | None:
    """The committed position of `name` (no lock); None when it has no tracking row."""
    row = conn.execute(
        "SELECT position FROM projection_tracking WHERE name = %s", (name,)
    ).fetchone()
    return None if row is None else int(row[0])


def set_position(conn: Connection[Any], name: str, position: int) -> None:
    """Create or move `name`'s row to `position`, healthy: a new build starts from here."""
    conn.execute(
        "INSERT INTO projection_tracking (name, position) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now(),"
        " state = 'running', error_count = 0",
        (name, position),
    )


def remove(conn: Connection[Any], name: str) -> None:
    conn.execute("DELETE FROM projection_tracking WHERE name = %s", (name,))


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


def record_parked(conn: Connection[Any], name: str, error: str) -> None:
    """After parking an event the projection runs on, healthy, but says what it left behind."""
    conn.execute(
        "UPDATE projection_tracking SET state = 'running', last_error = %s,"
        " last_error_at = now(), error_count = 0, updated_at = now() WHERE name = %s",
        (error[:_MAX_ERROR_CHARS], name),
    )


def get(conn: Connection[Any], name: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM projection_tracking WHERE name = %s", (name,))
        return cur.fetchone()


# -- parked events (projection_parked_events) ----------------------------------------------------
#
# Kept beside the tracking row because parking is part of moving a projection's position: the
# parked row and the new position commit together, so an event is either still ahead of the
# projection or recorded as parked, never neither.

PARKED = "parked"
RETRIED = "retried"
SKIPPED = "skipped"


def park(conn: Connection[Any], name: str, event: RecordedEvent, error: str, attempts: int) -> None:
    """Record `event` as parked for `name` (again, if an earlier park of it was resolved)."""
    conn.execute(
        "INSERT INTO projection_parked_events (projection, position, event_id, event_type,"
        " originator_id, originator_version, error, attempts)"
        " SELECT %s, e.position, e.event_id, e.event_type, e.originator_id,"
        " e.originator_version, %s, %s FROM events e WHERE e.position = %s"
        " ON CONFLICT (projection, position) DO UPDATE SET error = EXCLUDED.error,"
        " attempts = EXCLUDED.attempts, parked_at = now(), status = 'parked',"
        " resolved_by = NULL, resolved_at = NULL, resolution = NULL",
        (name, error[:_MAX_ERROR_CHARS], attempts, event.position),
    )


def excluded_positions(
    conn: Connection[Any], name: str, statuses: Sequence[str], *, after: int, upto: int
) -> frozenset[int]:
    """Positions in (after, upto] that `name` has parked with one of `statuses`."""
    rows = conn.execute(
        "SELECT position FROM projection_parked_events WHERE projection = %s"
        " AND position > %s AND position <= %s AND status = ANY(%s)",
        (name, after, upto, list(statuses)),
        prepare=True,
    ).fetchall()
    return frozenset(int(row[0]) for row in rows)
