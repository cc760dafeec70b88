"""Helpers shared by the projection tests: running, waiting, and comparing with a fresh build."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from projections import Projection, Projector, default_projections
from projections.tables import create_copies

REBUILD = "__rebuild"


def project_all(database_url: str, **options: Any) -> int:
    with Projector(database_url, default_projections(), **options) as projector:
        return projector.run_until_caught_up()


def wait_until(predicate: Callable[[], bool], *, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.05)


@contextmanager
def running(projector: Projector) -> Iterator[threading.Thread]:
    """`projector.run_forever` in a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=projector.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "run_forever did not stop"


def scalar(database_url: str, query: str, params: Sequence[Any] = ()) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query.encode(), params).fetchone()
    return None if row is None else row[0]


def position_of(database_url: str, name: str) -> int | None:
    value = scalar(
        database_url, "SELECT position FROM projection_tracking WHERE name = %s", (name,)
    )
    return None if value is None else int(value)


def head(database_url: str) -> int:
    return int(scalar(database_url, "SELECT coalesce(max(position), 0) FROM events"))


def table_rows(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    """Every row, ordered by the primary key's leading columns (id, or definition_id+version)."""
    query = sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(table))
    return conn.execute(query).fetchall()


def assert_equals_fresh_rebuild(
    database_url: str, projections: Sequence[Projection] | None = None
) -> None:
    """Build every projection again into ``__rebuild`` copies and compare row for row."""
    live = list(projections) if projections is not None else default_projections()
    copies = [projection.with_suffix(REBUILD) for projection in live]
    with psycopg.connect(database_url, autocommit=True) as conn:
        for projection, copy in zip(live, copies, strict=True):
            create_copies(conn, projection.tables, copy.tables)
    with Projector(database_url, copies) as projector:
        projector.run_until_caught_up()
    with psycopg.connect(database_url) as conn:
        compared = 0
        for projection in live:
            assert position_of(database_url, projection.name) == position_of(
                database_url, projection.name + REBUILD
            ), f"{projection.name} is not caught up"
            for logical in projection.tables:
                table = projection.tables[logical]
                expected = table_rows(conn, table + REBUILD)
                assert table_rows(conn, table) == expected, f"{table} differs from a fresh build"
                compared += len(expected)
        assert compared > 0, "nothing was compared: the scenario built no rows"
