"""Events stored in an older shape still load: ``Task.StatusChanged`` version 1 rows (no
``closed_at``), appended by a SQL fixture through the recorder's own ``events_append``, read
beside version 2 events by the aggregate (the library's upcasting), by the tasks projection,
by the auditors' past states, and sealed and verified like every event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from application.bundle import Services, build_services
from application.metadata import CommandContext
from domain.codec import EventMapper
from domain.task import Task
from projections.admin import verify_projection
from projections.audit.integrity import verify_chain
from projections.audit.state import aggregate_state
from projections.chain import seal
from projections.queries import get_task
from tests.integration.projections.support import project_all

Conn = psycopg.Connection[Any]
FIXTURE = Path(__file__).with_name("fixtures") / "task_status_changed_v1.sql"
ORG = "org_legacy"
CANCELLED = UUID("a0000000-0000-4000-8000-00000000000a")
REOPENED = UUID("a0000000-0000-4000-8000-00000000000b")
STARTED = UUID("a0000000-0000-4000-8000-00000000000c")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def legacy(database_url: str, conn: Conn) -> Conn:
    conn.execute(FIXTURE.read_text(encoding="utf-8").encode())
    return conn


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url)
    yield built
    built.close()


def ctx(command_id: str) -> CommandContext:
    return CommandContext(org_id=ORG, command_id=command_id, actor="user:u7")


def test_the_fixture_holds_version_1_events(legacy: Conn) -> None:
    rows = legacy.execute(
        "SELECT data ? 'closed_at', data ? 'class_version' FROM events"
        " WHERE event_type = 'Task.StatusChanged'"
    ).fetchall()
    assert rows == [(False, False)] * 4


def test_an_aggregate_loads_its_version_1_events_upcast(legacy: Conn, services: Services) -> None:
    cancelled = services.tasks.get_task(ctx("read-a"), CANCELLED)
    assert (cancelled.status, cancelled.completed_at) == ("cancelled", None)
    assert cancelled.closed_at == at("2024-05-02T10:00:00")  # derived from the event's own time

    reopened = services.tasks.get_task(ctx("read-b"), REOPENED)
    assert (reopened.status, reopened.closed_at) == ("todo", None)
    started = services.tasks.get_task(ctx("read-c"), STARTED)
    assert (started.status, started.closed_at) == ("in_progress", None)


def test_a_new_command_appends_version_2_on_top_of_version_1_events(
    legacy: Conn, services: Services
) -> None:
    services.tasks.change_task_status(ctx("close-b"), REOPENED, "done", {"outcome": "approved"})

    task = services.tasks.get_task(ctx("read-b2"), REOPENED)
    assert task.status == "done"
    assert task.closed_at is not None and task.closed_at == task.completed_at
    newest = legacy.execute(
        "SELECT data->'class_version', data->>'closed_at', data->>'timestamp' FROM events"
        " WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1",
        (REOPENED,),
    ).fetchone()
    assert newest is not None
    assert newest[0] == 2 and newest[1] == newest[2]


def test_projections_and_past_states_read_both_shapes(
    database_url: str, legacy: Conn, services: Services
) -> None:
    services.tasks.change_task_status(ctx("cancel-c"), STARTED, "cancelled")  # version 2
    project_all(database_url)

    rows = {key: get_task(legacy, ORG, key) for key in (CANCELLED, REOPENED, STARTED)}
    assert {key: (row or {}).get("status") for key, row in rows.items()} == {
        CANCELLED: "cancelled",
        REOPENED: "todo",
        STARTED: "cancelled",
    }
    assert (rows[REOPENED] or {}).get("metadata") == {"outcome": "approved"}
    assert verify_projection(database_url, "tasks").ok

    # An auditor's view of the past rebuilds the aggregate through the same upcast.
    was_done = aggregate_state(legacy, ORG, "task", REOPENED, version=2)
    assert was_done is not None
    assert (was_done["status"], was_done["closed_at"]) == ("done", "2024-05-03T12:00:00+00:00")
    now = aggregate_state(legacy, ORG, "task", STARTED)
    assert now is not None and now["status"] == "cancelled" and now["closed_at"] is not None


def test_old_and_new_events_are_sealed_and_verify(
    database_url: str, legacy: Conn, services: Services
) -> None:
    services.tasks.change_task_status(ctx("done-a"), STARTED, "done")
    seal(legacy)

    report = verify_chain(legacy)
    assert report.ok and report.checked == 8, report
    cli = subprocess.run(
        [sys.executable, "-m", "interfaces.cli", "events", "verify"],
        env={**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("intact: 8 events"), cli.stdout


def test_the_mapper_upcasts_a_stored_version_1_row_which_would_not_load_as_it_is(
    legacy: Conn,
) -> None:
    row = legacy.execute(
        "SELECT originator_id, originator_version, topic, convert_to(data::text, 'UTF8')"
        " FROM events WHERE originator_id = %s AND originator_version = 2",
        (CANCELLED,),
    ).fetchone()
    assert row is not None
    stored = StoredEvent(*row)

    event = EventMapper().to_domain_event(stored)
    assert isinstance(event, Task.StatusChanged)
    assert event.closed_at == "2024-05-02T10:00:00+00:00"

    # The same state made into the event as stored, as the library would without the upcast:
    # the field `apply` reads is missing.
    as_stored = object.__new__(Task.StatusChanged)
    object.__setattr__(as_stored, "__dict__", json.loads(bytes(stored.state)))
    task = Task.__new__(Task)
    vars(task).update(_status="todo", _metadata={}, _completed_at=None)
    with pytest.raises(AttributeError, match="closed_at"):
        as_stored.apply(task)
