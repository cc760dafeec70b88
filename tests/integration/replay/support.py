"""Test-only projections and helpers for the replay tests.

`poisoned_contacts` is the real contacts read model (same tables, same rows) whose handlers
fail on chosen events until "fixed", which is how a poison event looks to the runner. `Ledger`
writes one row per event it is handed and has no key, so an event applied twice by anything
(live projector, rebuild, swap) shows up as a duplicate position.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import Connection, sql

from projections import Projection, RecordedEvent, TableNames
from projections.contacts import COLUMNS, HANDLERS, STATUS_CHANGED
from projections.rows import Handler, Row, RowProjection

POISON = "poison"


class PoisonSwitch:
    """Decides which events fail; flip `fixed` to play "the handler was fixed and deployed"."""

    def __init__(self) -> None:
        self.fixed = False
        self.calls = 0
        self._lock = threading.Lock()

    def check(self, event: RecordedEvent) -> None:
        if event.data.get("new_status") == POISON and not self.fixed:
            with self._lock:
                self.calls += 1
            raise ValueError(f"cannot handle status {POISON!r} (simulated handler bug)")


def poisoned_contacts(switch: PoisonSwitch) -> RowProjection:
    """Contacts, whose StatusChanged handler fails on ``new_status == 'poison'`` until fixed."""
    real = HANDLERS[STATUS_CHANGED]

    def status_changed(row: Row | None, event: RecordedEvent) -> Row:
        switch.check(event)
        return real(row, event)

    handlers: dict[str, Handler] = {**HANDLERS, STATUS_CHANGED: status_changed}
    return RowProjection(name="contacts", table="contacts", columns=COLUMNS, handlers=handlers)


LEDGER = "replay_ledger"


class Ledger(Projection):
    """One row per applied event, no key: duplicates prove double application."""

    def __init__(self, event_types: Sequence[str]) -> None:
        self.name = "ledger"
        self.event_types = frozenset(event_types)
        self.tables = TableNames([LEDGER])

    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        conn.execute(
            sql.SQL("INSERT INTO {} (position) SELECT unnest(%s::bigint[])").format(
                self.tables.ident(LEDGER)
            ),
            ([e.position for e in events],),
        )


def create_ledger(conn: Connection[Any]) -> None:
    conn.execute(f"CREATE TABLE {LEDGER} (position bigint NOT NULL)".encode())


def ledger_positions(conn: Connection[Any]) -> list[int]:
    rows = conn.execute(f"SELECT position FROM {LEDGER} ORDER BY position".encode()).fetchall()
    return [int(row[0]) for row in rows]


def positions_of(database_url: str, event_types: Sequence[str]) -> list[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT position FROM events WHERE event_type = ANY(%s) ORDER BY position",
            (list(event_types),),
        ).fetchall()
    return [int(row[0]) for row in rows]


def table_oid(conn: Connection[Any], table: str) -> int:
    row = conn.execute("SELECT to_regclass(%s)::oid::int8", (table,)).fetchone()
    assert row is not None and row[0] is not None, f"{table} does not exist"
    return int(row[0])


def tracking_row(conn: Connection[Any], name: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT position, state, error_count FROM projection_tracking WHERE name = %s", (name,)
    ).fetchone()


def stop_when(stop: threading.Event, *, done_at_least: int) -> Any:
    """A progress callback that sets `stop` once `done_at_least` positions are behind."""

    def progress(done: int, total: int, rate: float, eta: float | None) -> None:
        if done >= done_at_least:
            stop.set()

    return progress
