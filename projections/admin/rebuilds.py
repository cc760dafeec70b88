"""The ``projection_rebuilds`` table: what a rebuild is doing, for status pages and for resuming.

Rows are written on the rebuild's own autocommit connection, outside the batches' transactions,
so a status page sees the phase and progress of a rebuild that is still running. Progress is a
hint for people (rate, ETA); the resumable truth is the ``__rebuild`` tracking row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

BUILDING = "building"
CATCHING_UP = "catching_up"
SWAPPING = "swapping"
DONE = "done"
FAILED = "failed"

REBUILD = "rebuild"
RESET = "reset"

_MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class OpenRebuild:
    id: int
    kind: str
    phase: str
    stop_position: int | None


def open_rebuild(conn: Connection[Any], name: str) -> OpenRebuild | None:
    """The unfinished rebuild of `name` (interrupted, failed or running), if any."""
    row = conn.execute(
        "SELECT id, kind, phase, stop_position FROM projection_rebuilds"
        " WHERE name = %s AND finished_at IS NULL",
        (name,),
    ).fetchone()
    return None if row is None else OpenRebuild(*row)


def start(
    conn: Connection[Any],
    name: str,
    *,
    kind: str,
    stop_position: int | None,
    target: int,
    requested_by: str | None,
) -> int:
    row = conn.execute(
        "INSERT INTO projection_rebuilds (name, kind, stop_position, target_position,"
        " requested_by) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (name, kind, stop_position, target, requested_by),
    ).fetchone()
    assert row is not None
    return int(row[0])


def resume(
    conn: Connection[Any],
    rebuild_id: int,
    *,
    kind: str,
    stop_position: int | None,
    requested_by: str | None,
) -> None:
    conn.execute(
        "UPDATE projection_rebuilds SET runs = runs + 1, kind = %s, stop_position = %s,"
        " requested_by = coalesce(%s, requested_by), error = NULL,"
        " phase = CASE WHEN phase IN ('failed', 'swapping') THEN 'catching_up' ELSE phase END,"
        " updated_at = now() WHERE id = %s",
        (kind, stop_position, requested_by, rebuild_id),
    )


def applied_so_far(conn: Connection[Any], rebuild_id: int) -> int:
    """Events applied by earlier runs of a resumed rebuild (progress adds this run's to it)."""
    row = conn.execute(
        "SELECT events_applied FROM projection_rebuilds WHERE id = %s", (rebuild_id,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def abandon(conn: Connection[Any], rebuild_id: int, reason: str) -> None:
    """Close an unfinished rebuild that will not be resumed (a new one starts from scratch)."""
    conn.execute(
        "UPDATE projection_rebuilds SET phase = 'failed', finished_at = now(), updated_at = now(),"
        " error = coalesce(error || '; ', '') || %s WHERE id = %s",
        (reason, rebuild_id),
    )


def set_phase(conn: Connection[Any], rebuild_id: int, phase: str) -> None:
    conn.execute(
        "UPDATE projection_rebuilds SET phase = %s, updated_at = now() WHERE id = %s",
        (phase, rebuild_id),
    )


def record_progress(
    conn: Connection[Any],
    rebuild_id: int,
    *,
    position: int,
    target: int,
    applied: int,
    rate: float,
    eta: float | None,
) -> None:
    conn.execute(
        "UPDATE projection_rebuilds SET rebuilt_position = %s, target_position = %s,"
        " events_applied = %s, rate = %s, eta_seconds = %s, updated_at = now() WHERE id = %s",
        (position, target, applied, rate, eta, rebuild_id),
    )


def fail(conn: Connection[Any], rebuild_id: int, error: str) -> None:
    """Mark a rebuild failed but resumable: its tables and position stay for the next run."""
    conn.execute(
        "UPDATE projection_rebuilds SET phase = 'failed', error = %s, updated_at = now()"
        " WHERE id = %s",
        (error[:_MAX_ERROR_CHARS], rebuild_id),
    )


def finish(
    conn: Connection[Any], rebuild_id: int, *, position: int, applied: int, rate: float
) -> None:
    """Done: `rate` is the last run's average (positions per second), for the history."""
    conn.execute(
        "UPDATE projection_rebuilds SET phase = 'done', finished_at = now(), updated_at = now(),"
        " rebuilt_position = %s, target_position = %s, events_applied = %s, rate = %s,"
        " eta_seconds = 0 WHERE id = %s",
        (position, position, applied, rate, rebuild_id),
    )


def latest(conn: Connection[Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """The most recent rebuild of each of `names` that has one."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT DISTINCT ON (name) id, name, kind, phase, requested_by, started_at,"
            " updated_at, finished_at, stop_position, target_position, rebuilt_position,"
            " events_applied, rate, eta_seconds, runs, error"
            " FROM projection_rebuilds WHERE name = ANY(%s) ORDER BY name, id DESC",
            (names,),
        )
        return {row["name"]: row for row in cur.fetchall()}


def record_reset(conn: Connection[Any], name: str, *, requested_by: str | None) -> int:
    """History row of a reset to position 0 (done at once: nothing is built)."""
    row = conn.execute(
        "INSERT INTO projection_rebuilds (name, kind, phase, stop_position, requested_by,"
        " finished_at) VALUES (%s, 'reset', 'done', 0, %s, now()) RETURNING id",
        (name, requested_by),
    ).fetchone()
    assert row is not None
    return int(row[0])
