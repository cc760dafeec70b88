"""Contact reads: ``GET /contacts`` (status, q) and ``GET /contacts/{id}``."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from projections.contacts import COLUMNS
from projections.queries.pagination import (
    DEFAULT_LIMIT,
    Page,
    PageQuery,
    RowQuery,
    page_query,
    row_query,
)

TABLE = "contacts"
FIELDS = tuple(c.name for c in COLUMNS)
# Must match the trigram index's expression in migrations/sql/0002_read_models.sql.
SEARCH_EXPRESSION = (
    "(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, ''))"
)


def list_contacts(conn: Connection[Any], org_id: str, **filters: Any) -> Page:
    """`contacts_page` on a blocking connection."""
    return contacts_page(org_id, **filters).fetch(conn)


def contacts_page(
    org_id: str,
    *,
    status: str | None = None,
    q: str | None = None,
    archived: bool | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> PageQuery:
    """Contacts of `org_id`, newest first.

    `q` matches a case-insensitive substring of the first name, last name, full name
    ("Ada Lovelace") or email. `archived` None lists both archived and live contacts.
    """
    conditions: list[tuple[str, tuple[Any, ...]]] = [("org_id = %s", (org_id,))]
    if status is not None:
        conditions.append(("status = %s", (status,)))
    if archived is not None:
        conditions.append(("archived = %s", (archived,)))
    if q is not None and q.strip():
        conditions.append((f"{SEARCH_EXPRESSION} ILIKE %s", (contains_pattern(q.strip()),)))
    return page_query(
        table=TABLE, columns=FIELDS, conditions=conditions, limit=limit, cursor=cursor
    )


def get_contact(conn: Connection[Any], org_id: str, contact_id: object) -> dict[str, Any] | None:
    return contact_row(org_id, contact_id).fetch(conn)


def contact_row(org_id: str, contact_id: object) -> RowQuery:
    return row_query(table=TABLE, columns=FIELDS, org_id=org_id, row_id=contact_id)


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (its % and _ are not wildcards)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
