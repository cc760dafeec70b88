"""Where each projection stands (``GET /admin/projections``, ``bytedash projections status``)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

_STATUS = (
    "WITH head AS (SELECT coalesce(max(position), 0) AS head FROM events)"
    " SELECT t.name, t.position, head.head,"
    "  (SELECT count(*) FROM events e WHERE e.position > t.position) AS lag_events,"
    "  coalesce(extract(epoch FROM now() - (SELECT e.recorded_at FROM events e"
    "    WHERE e.position > t.position ORDER BY e.position LIMIT 1)), 0)::float8 AS lag_seconds,"
    "  t.state AS status, t.last_error, t.last_error_at, t.error_count, t.updated_at"
    " FROM projection_tracking t CROSS JOIN head"
)


def projection_status(conn: Connection[Any], name: str | None = None) -> list[dict[str, Any]]:
    """One dict per projection: position, head, lag_events (events not yet passed), lag_seconds
    (age of the oldest of them; 0 when caught up), status, last_error."""
    query = _STATUS + (" WHERE t.name = %s" if name is not None else "") + " ORDER BY t.name"
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, (name,) if name is not None else ())
        return cur.fetchall()
