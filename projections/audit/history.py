"""``GET /aggregates/{type}/{id}/history``: every event of one aggregate, in version order."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.audit.aggregates import aggregate_class
from projections.audit.items import ITEM_COLUMNS, as_uuid, event_item

_HISTORY = (
    f"SELECT {ITEM_COLUMNS} FROM events"
    " WHERE originator_id = %s AND org_id = %s AND aggregate_type = %s"
    " ORDER BY originator_version"
)


def aggregate_history(
    conn: Connection[Any], org_id: str, aggregate_type: str, aggregate_id: object
) -> list[dict[str, Any]] | None:
    """The aggregate's events, first to last; None when it has none in `org_id`.

    None (not an empty list) for another org's aggregate, a malformed id or an id of another
    type, so that the API answers 404 exactly as it does for an id that never existed.
    ValueError for an unknown type.
    """
    aggregate_class(aggregate_type)
    key = as_uuid(aggregate_id)
    if key is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_HISTORY.encode(), (key, org_id, aggregate_type))
        rows = cur.fetchall()
    return [event_item(row) for row in rows] or None
