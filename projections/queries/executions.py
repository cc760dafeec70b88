"""Execution reads: ``GET /executions`` and ``GET /executions/{id}`` (with the step timeline)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from projections.executions import COLUMNS
from projections.queries.pagination import (
    DEFAULT_LIMIT,
    Page,
    PageQuery,
    RowQuery,
    page_query,
    row_query,
)
from projections.rows import id_text

TABLE = "executions"
FIELDS = tuple(c.name for c in COLUMNS)
LIST_FIELDS_WITHOUT_STEPS = tuple(name for name in FIELDS if name != "steps")


def list_executions(conn: Connection[Any], org_id: str, **filters: Any) -> Page:
    """`executions_page` on a blocking connection."""
    return executions_page(org_id, **filters).fetch(conn)


def executions_page(
    org_id: str,
    *,
    status: str | None = None,
    definition_id: object | None = None,
    contact_id: object | None = None,
    include_steps: bool = True,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> PageQuery:
    """Executions of `org_id`, newest first. `include_steps=False` leaves the timelines out,
    for clients that list many executions and open one at a time."""
    conditions: list[tuple[str, tuple[Any, ...]]] = [("org_id = %s", (org_id,))]
    if status is not None:
        conditions.append(("status = %s", (status,)))
    if definition_id is not None:
        conditions.append(("definition_id = %s", (id_text(definition_id),)))
    if contact_id is not None:
        conditions.append(("contact_id = %s", (id_text(contact_id),)))
    return page_query(
        table=TABLE,
        columns=FIELDS if include_steps else LIST_FIELDS_WITHOUT_STEPS,
        conditions=conditions,
        limit=limit,
        cursor=cursor,
    )


def get_execution(
    conn: Connection[Any], org_id: str, execution_id: object
) -> dict[str, Any] | None:
    return execution_row(org_id, execution_id).fetch(conn)


def execution_row(org_id: str, execution_id: object) -> RowQuery:
    return row_query(table=TABLE, columns=FIELDS, org_id=org_id, row_id=execution_id)
