"""A test-only projection that would double count: one row per event applied, no dedup.

Real read models skip an event whose version they already hold, which would hide a runner that
applies a batch twice. This one appends a row per event it is handed, so any event projected
twice shows up as a duplicate position.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import Connection, sql

from projections import Projection, RecordedEvent, TableNames

TABLE = "projection_test_applied"

CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (projection text NOT NULL, position bigint NOT NULL,"
    " applied_by text)"
)


class CountingProjection(Projection):
    def __init__(
        self,
        event_types: Iterable[str],
        *,
        name: str = "counter",
        delay: float = 0.0,
        failures: int = 0,
    ) -> None:
        self.name = name
        self.event_types = frozenset(event_types)
        self.tables = TableNames([TABLE])
        self.delay = delay
        self.failures_left = failures
        self._lock = threading.Lock()

    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        with self._lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                raise RuntimeError("projection bug (simulated)")
        if self.delay:
            time.sleep(self.delay)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (projection, position, applied_by)"
                " SELECT %s, unnest(%s::bigint[]), %s"
            ).format(self.tables.ident(TABLE)),
            (self.name, [e.position for e in events], threading.current_thread().name),
        )


def create_table(conn: Connection[Any]) -> None:
    conn.execute(CREATE_TABLE.encode())


def duplicates(conn: Connection[Any], name: str = "counter") -> list[tuple[Any, ...]]:
    return conn.execute(
        f"SELECT position, count(*) FROM {TABLE} WHERE projection = %s"
        " GROUP BY position HAVING count(*) > 1".encode(),
        (name,),
    ).fetchall()


def applied_positions(conn: Connection[Any], name: str = "counter") -> list[int]:
    rows = conn.execute(
        f"SELECT position FROM {TABLE} WHERE projection = %s ORDER BY position".encode(), (name,)
    ).fetchall()
    return [int(row[0]) for row in rows]
