"""Reset: to zero (empty, then replayed) and to a position (rebuilt up to it, swapped in)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from projections.admin import InvalidPositionError, reset_projection, verify_projection
from projections.contacts import FIELDS_UPDATED, STATUS_CHANGED
from projections.queries import projection_status
from tests.integration.projections.eventlog import EventLog, append, append_synthetic
from tests.integration.projections.support import head, position_of, project_all

Conn = psycopg.Connection[Any]


def test_a_reset_to_zero_empties_the_tables_and_the_projector_replays_everything(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 300)
    project_all(database_url)

    report = reset_projection(database_url, "executions", 0, requested_by="user:admin")

    assert (report.kind, report.outcome, report.position) == ("reset", "done", 0)
    assert conn.execute("SELECT count(*) FROM executions").fetchone() == (0,)
    (status,) = projection_status(conn, "executions")
    assert (status["position"], status["lag_events"]) == (0, head(database_url))
    assert status["rebuild"]["kind"] == "reset"
    assert status["rebuild"]["requested_by"] == "user:admin"
    assert project_all(database_url) == 1_500
    assert verify_projection(database_url, "executions").ok


def test_a_reset_to_a_middle_position_holds_exactly_the_events_up_to_it(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    first = log.contact(first_name="Ada")
    second = log.contact(first_name="Grace")
    append(database_url, log.take())  # positions 1, 2
    log.add(first, STATUS_CHANGED, old_status="active", new_status="lead")  # 3
    log.add(second, FIELDS_UPDATED, changes={"phone": {"old": None, "new": "+44"}})  # 4
    log.add(first, FIELDS_UPDATED, changes={"first_name": {"old": "Ada", "new": "Ada L."}})  # 5
    third = log.contact(first_name="Katherine")  # 6
    append(database_url, log.take())
    project_all(database_url)

    report = reset_projection(database_url, "contacts", 4)

    assert (report.outcome, report.position) == ("done", 4)
    assert position_of(database_url, "contacts") == 4
    rows = {
        row[0]: row[1:]
        for row in conn.execute("SELECT id, first_name, status, phone, version FROM contacts")
    }
    assert rows == {first: ("Ada", "lead", None, 2), second: ("Grace", "active", "+44", 2)}
    assert third not in rows

    assert project_all(database_url) == 2, "the projector goes on from position 4"
    assert verify_projection(database_url, "contacts").ok


def test_positions_outside_the_store_are_refused_and_nothing_changes(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 10)
    project_all(database_url)
    with pytest.raises(InvalidPositionError, match="negative"):
        reset_projection(database_url, "tasks", -1)
    with pytest.raises(InvalidPositionError, match="head, 100"):
        reset_projection(database_url, "tasks", 101)
    assert position_of(database_url, "tasks") == 100
    assert conn.execute("SELECT count(*) FROM tasks").fetchone() == (10,)
    assert conn.execute("SELECT count(*) FROM projection_rebuilds").fetchone() == (0,)
