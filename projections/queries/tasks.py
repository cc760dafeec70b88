"""Task reads: ``GET /tasks``, ``GET /tasks/{id}`` and ``GET /me/tasks``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Connection

from projections.queries.pagination import (
    DEFAULT_LIMIT,
    Page,
    PageQuery,
    RowQuery,
    page_query,
    row_query,
)
from projections.rows import id_text
from projections.tasks import COLUMNS

TABLE = "tasks"
FIELDS = tuple(c.name for c in COLUMNS)


def list_tasks(conn: Connection[Any], org_id: str, **filters: Any) -> Page:
    """`tasks_page` on a blocking connection."""
    return tasks_page(org_id, **filters).fetch(conn)


def tasks_page(
    org_id: str,
    *,
    status: str | None = None,
    assigned_to: str | None = None,
    execution_id: object | None = None,
    contact_id: object | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> PageQuery:
    """Tasks of `org_id`, newest first; `assigned_to` is ``user:<id>`` or ``role:<name>``."""
    conditions: list[tuple[str, tuple[Any, ...]]] = [("org_id = %s", (org_id,))]
    if status is not None:
        conditions.append(("status = %s", (status,)))
    if assigned_to is not None:
        conditions.append(("assigned_to = %s", (assigned_to,)))
    if execution_id is not None:
        conditions.append(("execution_id = %s", (id_text(execution_id),)))
    if contact_id is not None:
        conditions.append(("contact_id = %s", (id_text(contact_id),)))
    return page_query(
        table=TABLE, columns=FIELDS, conditions=conditions, limit=limit, cursor=cursor
    )


def list_my_tasks(
    conn: Connection[Any], org_id: str, user_id: str, roles: Sequence[str], **filters: Any
) -> Page:
    """`my_tasks_page` on a blocking connection."""
    return my_tasks_page(org_id, user_id, roles, **filters).fetch(conn)


def my_tasks_page(
    org_id: str,
    user_id: str,
    roles: Sequence[str],
    *,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> PageQuery:
    """Tasks assigned to ``user:<user_id>`` or to any of `roles` (``admin`` or ``role:admin``)."""
    assignees = [f"user:{user_id}"]
    assignees += [role if role.startswith("role:") else f"role:{role}" for role in roles]
    conditions: list[tuple[str, tuple[Any, ...]]] = [
        ("org_id = %s", (org_id,)),
        ("assigned_to = ANY(%s)", (assignees,)),
    ]
    if status is not None:
        conditions.append(("status = %s", (status,)))
    return page_query(
        table=TABLE, columns=FIELDS, conditions=conditions, limit=limit, cursor=cursor
    )


def get_task(conn: Connection[Any], org_id: str, task_id: object) -> dict[str, Any] | None:
    return task_row(org_id, task_id).fetch(conn)


def task_row(org_id: str, task_id: object) -> RowQuery:
    return row_query(table=TABLE, columns=FIELDS, org_id=org_id, row_id=task_id)
