"""One org's share of the projections' status (``GET /admin/projections`` for an org's admins).

The status platform operators see (`projections.queries.status`) is about the whole store: the
global head, positions, how many events of every org wait, errors that quote any org's events,
who rebuilt what. An org's admins may know whether *their* read side is up to date, and nothing
about the other orgs, so this view counts only the org's own events:

* ``head``: the position of the org's newest event (0 without any), ``position``: that of the
  newest one the projection has passed; both are positions the org already sees on its events;
* ``lag_events`` and ``lag_seconds``: the org's events the projection has not passed yet, and
  the age of the oldest of them;
* ``status``: ``parked`` only for events of the org; ``error`` and ``rebuilding`` as they are,
  as they delay everyone's reads; ``last_error`` and ``parked`` details stay with operators;
* ``rebuild``: the phase and progress of the latest rebuild, without positions or requester.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.queries.status import projection_status

SCOPE = "org"

_ORG_SHARE = (
    "SELECT"
    " (SELECT coalesce(max(position), 0) FROM events"
    "   WHERE org_id = %(org)s AND position <= %(position)s) AS position,"
    " (SELECT coalesce(max(position), 0) FROM events WHERE org_id = %(org)s) AS head,"
    " (SELECT count(*) FROM events"
    "   WHERE org_id = %(org)s AND position > %(position)s) AS lag_events,"
    " coalesce(extract(epoch FROM now() - (SELECT recorded_at FROM events"
    "   WHERE org_id = %(org)s AND position > %(position)s ORDER BY position LIMIT 1)), 0)::float8"
    "   AS lag_seconds,"
    " (SELECT count(*) FROM projection_parked_events p JOIN events e ON e.position = p.position"
    "   WHERE p.projection = %(name)s AND p.status = 'parked' AND e.org_id = %(org)s)"
    "   AS parked_events"
)
_REBUILD_KEYS = ("kind", "phase", "running", "progress", "eta_seconds", "started_at", "finished_at")


def org_projection_status(
    conn: Connection[Any], org_id: str, name: str | None = None
) -> list[dict[str, Any]]:
    """The status of each projection (or `name`) as it concerns `org_id` (module doc)."""
    rows = []
    for row in projection_status(conn, name):
        with conn.cursor(row_factory=dict_row) as cur:
            share = cur.execute(
                _ORG_SHARE, {"org": org_id, "position": row["position"], "name": row["name"]}
            ).fetchone()
        assert share is not None
        status = row["status"]
        if status == "parked" and not share["parked_events"]:
            status = str(row["state"])
        rebuild = row.get("rebuild")
        rows.append(
            {
                "name": row["name"],
                "scope": SCOPE,
                **share,
                "status": status,
                "last_error": None,
                "rebuild": None
                if rebuild is None
                else {key: rebuild.get(key) for key in _REBUILD_KEYS},
            }
        )
    return rows
