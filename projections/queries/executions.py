"""Execution reads: ``GET /executions`` and ``GET /executions/{id}`` (with the step timeline)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from projections.executions import COLUMNS
from projections.queries.pagination import DEFAULT_LIMIT, Page, fetch_one, fetch_page
from projections.rows import id_text

TABLE = "executions"
FIELDS = tuple(c.name for c in COLUMNS)
LIST_FIELDS_WITHOUT_STEPS = tuple(name for name in FIELDS if name != "steps")


def list_executions(
    conn: Connection[Any],
    org_id: str,
    *,
    status: str | None = None,
    definition_id: object | None = None,
    contact_id: object | None = None,
    include_steps: bool = True,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """Executions of `org_id`, newest first. `include_steps=False` leaves the timelines out,
    for clients that list many executions and open one at a time."""
    conditions: list[tuple[str, tuple[Any, ...]]] = [("org_id = %s", (org_id,))]
    if status is not None:
        conditions.append(("status = %s", (status,)))
    if definition_id is not None:
        conditions.append(("definition_id = %s", (id_text(definition_id),)))
    if contact_id is not None:
        conditions.append(("contact_id = %s", (id_text(contact_id),)))
    return fetch_page(
        conn,
        table=TABLE,
        columns=FIELDS if include_steps else LIST_FIELDS_WITHOUT_STEPS,
        conditions=conditions,
        limit=limit,
        cursor=cursor,
    )


def get_execution(
    conn: Connection[Any], org_id: str, execution_id: object
) -> dict[str, Any] | None:
    return fetch_one(conn, table=TABLE, columns=FIELDS, org_id=org_id, row_id=execution_id)
