"""Where each projection stands (``GET /admin/projections``, ``bytedash projections status``).

Besides position, head and lag, the status says what needs an admin's eye: events parked
because the projection could not apply them, and the progress of a rebuild (phase, rebuilt
position, rate, ETA, and whether a process is working on it right now or it was interrupted).
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row, tuple_row

from projections.admin.common import ASIDE_SUFFIXES, REBUILD_SUFFIX
from projections.admin.rebuilds import latest
from projections.locks import lock_key

_STATUS = (
    "WITH head AS (SELECT coalesce(max(position), 0) AS head FROM events)"
    " SELECT t.name, t.position, head.head,"
    "  (SELECT count(*) FROM events e WHERE e.position > t.position) AS lag_events,"
    "  coalesce(extract(epoch FROM now() - (SELECT e.recorded_at FROM events e"
    "    WHERE e.position > t.position ORDER BY e.position LIMIT 1)), 0)::float8 AS lag_seconds,"
    "  t.state AS status, t.last_error, t.last_error_at, t.error_count, t.updated_at,"
    "  t.state,"
    "  (SELECT count(*) FROM projection_parked_events p"
    "    WHERE p.projection = t.name AND p.status = 'parked') AS parked_events,"
    "  (SELECT r.position FROM projection_tracking r WHERE r.name = t.name || %s)"
    "    AS rebuild_tracking_position"
    " FROM projection_tracking t CROSS JOIN head"
    " WHERE NOT (t.name LIKE ANY(%s))"
)
_PARKED = (
    "SELECT projection, position, event_id, event_type, originator_id, originator_version,"
    " error, attempts, parked_at, status, resolved_by, resolved_at, resolution"
    " FROM projection_parked_events"
    " WHERE projection = %s AND (%s::text IS NULL OR status = %s) AND position > %s"
    " ORDER BY position LIMIT %s"
)


def projection_status(conn: Connection[Any], name: str | None = None) -> list[dict[str, Any]]:
    """One dict per projection (copies being built aside are folded into their projection).

    Keys: ``name``, ``position``, ``head``, ``lag_events`` (events not yet passed),
    ``lag_seconds`` (age of the oldest of them; 0 when caught up), ``status``, ``last_error``,
    ``last_error_at``, ``error_count``, ``updated_at``, plus:

    * ``state``: the projector's own state as it last recorded it, ``running`` or ``error``;
    * ``held``: whether a live projector process holds the projection right now (its advisory
      lock, seen in ``pg_locks``: a process that died, even by SIGKILL, holds nothing);
    * ``status``: ``rebuilding`` while a rebuild process works on it, else ``stopped`` when no
      projector holds it (nothing moves it forward, whatever ``state`` last said), else
      ``error`` when failing, else ``parked`` when events are parked and waiting for an admin,
      else ``state``;
    * ``parked_events``: how many events are parked (``parked_events()`` lists them);
    * ``rebuild``: the latest rebuild or reset (None if never), see `_rebuild_view`.
    """
    escaped = [f"%{suffix.replace('_', chr(92) + '_')}" for suffix in ASIDE_SUFFIXES]
    query = _STATUS + (" AND t.name = %s" if name is not None else "") + " ORDER BY t.name"
    params: tuple[Any, ...] = (REBUILD_SUFFIX, escaped)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, (*params, name) if name is not None else params)
        rows = cur.fetchall()
    if not rows:
        return rows
    rebuilds = latest(conn, [row["name"] for row in rows])
    working = _locks_held(conn)
    for row in rows:
        row["held"] = lock_key(row["name"]) in working
        aside_position = row.pop("rebuild_tracking_position")
        rebuild = rebuilds.get(row["name"])
        row["rebuild"] = (
            None
            if rebuild is None
            else _rebuild_view(
                rebuild, aside_position, lock_key(row["name"] + REBUILD_SUFFIX) in working
            )
        )
        row["status"] = _status(row)
    return rows


def parked_events(
    conn: Connection[Any],
    name: str,
    *,
    status: str | None = "parked",
    limit: int = 100,
    after: int = 0,
) -> list[dict[str, Any]]:
    """Parked events of projection `name` in position order (status None: all, resolved too),
    those after position `after` (a page's last one)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_PARKED, (name, status, status, after, limit))
        return cur.fetchall()


def _status(row: dict[str, Any]) -> str:
    rebuild = row["rebuild"]
    if rebuild is not None and rebuild["running"]:
        return "rebuilding"
    if not row["held"]:
        return "stopped"
    if row["state"] == "error":
        return "error"
    if row["parked_events"]:
        return "parked"
    return str(row["state"])


def _rebuild_view(
    rebuild: dict[str, Any], aside_position: int | None, running: bool
) -> dict[str, Any]:
    """The latest rebuild, with progress: ``phase`` (building, catching_up, swapping, done,
    failed), ``running`` (a process holds it now; an unfinished one that is not running was
    interrupted and resumes at the next rebuild), ``rebuilt_position``, ``target_position``,
    ``progress`` (0..1), ``rate`` (events/s), ``eta_seconds``, who asked and when."""
    view = dict(rebuild)
    if view["finished_at"] is None and aside_position is not None:
        view["rebuilt_position"] = max(int(view["rebuilt_position"]), int(aside_position))
    target = max(int(view["target_position"]), int(view["rebuilt_position"]))
    view["target_position"] = target
    view["progress"] = 1.0 if target == 0 else round(view["rebuilt_position"] / target, 4)
    view["running"] = running and view["finished_at"] is None
    if not view["running"]:
        view["rate"] = 0.0 if view["finished_at"] is None else view["rate"]
        view["eta_seconds"] = None if view["finished_at"] is None else 0.0
    return view


def _locks_held(conn: Connection[Any]) -> set[int]:
    """Advisory lock keys held right now in this database: a projector holds each of its
    projections' (``projections.locks``) for as long as its session lives, a rebuild
    ``<name>__rebuild``'s for its run."""
    with conn.cursor(row_factory=tuple_row) as cur:  # whatever the connection's row factory
        rows = cur.execute(
            "SELECT classid::int8, objid::int8 FROM pg_locks"
            " WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    keys = set()
    for high, low in rows:
        unsigned = (int(high) << 32) | int(low)
        keys.add(unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned)
    return keys
