"""Definition reads: ``GET /definitions`` and ``GET /definitions/{id}[?version=N]``."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.definitions import COLUMNS
from projections.queries.pagination import DEFAULT_LIMIT, Page, as_uuid, fetch_page

TABLE = "definitions"
FIELDS = tuple(c.name for c in COLUMNS)

_GET = (
    "SELECT d.id, d.org_id, coalesce(v.name, d.name) AS name,"
    " coalesce(v.description, d.description) AS description, d.current_version, d.is_active,"
    " d.active_version, d.webhook_secret_generation, d.created_at, d.updated_at, d.version,"
    " v.version AS definition_version, v.statuses, v.steps, v.trigger, v.published_at"
    " FROM definitions d"
    " LEFT JOIN definition_versions v"
    "   ON v.definition_id = d.id AND v.version = coalesce(%(version)s, d.current_version)"
    " WHERE d.org_id = %(org_id)s AND d.id = %(id)s"
)


def list_definitions(
    conn: Connection[Any],
    org_id: str,
    *,
    is_active: bool | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """Definitions of `org_id`, newest first, without their step bodies (see get_definition)."""
    conditions: list[tuple[str, tuple[Any, ...]]] = [("org_id = %s", (org_id,))]
    if is_active is not None:
        conditions.append(("is_active = %s", (is_active,)))
    return fetch_page(
        conn, table=TABLE, columns=FIELDS, conditions=conditions, limit=limit, cursor=cursor
    )


def get_definition(
    conn: Connection[Any], org_id: str, definition_id: object, version: int | None = None
) -> dict[str, Any] | None:
    """The definition with a version's body merged in: the current one, or `version`.

    The body's number is ``definition_version`` (``version`` is the aggregate's own version, as
    on every read model). None when the definition, or the requested version, does not exist;
    a definition with no published version yet comes back with an empty body.
    """
    key = as_uuid(definition_id)
    if key is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_GET, {"org_id": org_id, "id": key, "version": version})
        row = cur.fetchone()
    if row is None or (version is not None and row["definition_version"] is None):
        return None
    return row


_WEBHOOK_TARGET = (
    "SELECT d.id, d.org_id, d.is_active, d.current_version, d.webhook_secret_generation,"
    " v.version AS definition_version, coalesce(v.name, d.name) AS name, v.description,"
    " v.statuses, v.steps, v.trigger"
    " FROM definitions d"
    " LEFT JOIN definition_versions v ON v.definition_id = d.id AND v.version = d.current_version"
    " WHERE d.id = %(id)s"
)


def get_webhook_target(conn: Connection[Any], definition_id: object) -> dict[str, Any] | None:
    """The definition a webhook names, across orgs: webhooks carry no token, so the org is the
    definition's own. Callers must check the request's signature before trusting the row."""
    key = as_uuid(definition_id)
    if key is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_WEBHOOK_TARGET, {"id": key})
        return cur.fetchone()
