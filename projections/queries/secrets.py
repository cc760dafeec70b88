"""Reads of an org's secret names: ``GET /secrets`` and the check of definitions that
reference secrets. Never the values: only the columns that say which names are set, by whom
and when (the ciphertext column is not selected).

Not a projection: the secret store (migration 0012) is written by the worker's secret service
together with each `Secret` event, and it cannot be rebuilt from events, which never hold a
value. Its names are exact as soon as the command that set them has finished.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

_LIST = "SELECT name, set_by, set_at FROM secret_values WHERE org_id = %s ORDER BY name"
_GET = "SELECT name, set_by, set_at FROM secret_values WHERE org_id = %s AND name = %s"
_KNOWN = "SELECT name FROM secret_values WHERE org_id = %s AND name = ANY(%s)"


def list_secrets(conn: Connection[Any], org_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as curs:
        curs.execute(_LIST, (org_id,))
        return list(curs.fetchall())


def get_secret(conn: Connection[Any], org_id: str, name: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as curs:
        curs.execute(_GET, (org_id, name))
        return curs.fetchone()


def known_secret_names(conn: Connection[Any], org_id: str, names: Iterable[str]) -> set[str]:
    """Which of `names` the org has set."""
    wanted = sorted(set(names))
    if not wanted:
        return set()
    with conn.cursor(row_factory=dict_row) as curs:
        curs.execute(_KNOWN, (org_id, wanted))
        return {str(row["name"]) for row in curs.fetchall()}
