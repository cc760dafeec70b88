"""Small things every admin operation needs: finding the projection, connecting, the head."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import Connection

from projections.admin.errors import UnknownProjectionError
from projections.base import Projection
from projections.events import use_fast_json
from projections.registry import default_projections

REBUILD_SUFFIX = "__rebuild"
VERIFY_SUFFIX = "__verify"
ASIDE_SUFFIXES = (REBUILD_SUFFIX, VERIFY_SUFFIX)

ProjectionRef = str | Projection
"""A projection by name (one of `default_projections`) or the object itself (tests, plugins)."""


def resolve(projection: ProjectionRef) -> Projection:
    """The projection object; a fresh one per call, so concurrent operations share nothing."""
    if not isinstance(projection, str):
        return projection
    for candidate in default_projections():
        if candidate.name == projection:
            return candidate
    known = ", ".join(p.name for p in default_projections())
    raise UnknownProjectionError(f"no projection named {projection!r}; known: {known}")


def connect(database_url: str, purpose: str) -> Connection[Any]:
    """An autocommit connection named after the operation (visible in pg_stat_activity)."""
    conn = psycopg.connect(database_url, autocommit=True, application_name=f"bytedash-{purpose}")
    use_fast_json(conn)
    return conn


def store_head(conn: Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    return 0 if row is None else int(row[0])


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
