"""A projection that uses no personal data (execution_stats) reads events without the contacts'
keys: it catches up in a process that cannot open a single one, and builds the same rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from application.bundle import Services, build_services
from application.metadata import CommandContext
from domain.contact import Contact
from domain.execution import WorkflowExecution
from domain.personal import ERASED, PersonalDataError
from projections import Projector
from projections.events import read_events
from projections.personal import hold_master_keys
from projections.stats import execution_stats_projection

AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
ORG = "org_withheld"


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url)
    try:
        yield built
    finally:
        built.close()


def _execution(services: Services, n: int) -> uuid.UUID:
    """A contact and an execution of it that ran two steps and completed, saved sealed (the
    execution's input and its steps' outputs are personal data of the contact)."""
    contact = Contact.create(
        contact_id=uuid.uuid4(),
        org_id=ORG,
        first_name=f"Ada{n}",
        last_name="Lovelace",
        email=f"ada{n}@example.com",
        phone=None,
        fields={},
        at=AT,
    )
    execution = WorkflowExecution.create(
        execution_id=uuid.uuid4(),
        org_id=ORG,
        definition_id="def-withheld",
        definition_version=1,
        contact_id=str(contact.id),
        input={"note": f"private {n}"},
        workflow_id=f"execution-{n}",
        trigger={"type": "webhook"},
        at=AT,
    )
    execution.start(workflow_run_id=f"run-{n}", at=AT)
    for k, step_id in enumerate(("step_1", "step_2")):
        at = AT + timedelta(seconds=k + 1)
        execution.start_step(step_id=step_id, step_type="trigger", step_name=step_id, at=at)
        execution.complete_step(step_id=step_id, output={"secret": f"s{n}"}, at=at)
    execution.complete(output={"done": True}, at=AT + timedelta(seconds=5))
    context = CommandContext(
        org_id=ORG, command_id=f"withheld-{n}", actor="user:t", source="test", correlation_id="c"
    )
    services.contacts.save(contact, execution, metadata=context.stamped(AT))
    return execution.id


def _stats_rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    executions = conn.execute(
        "SELECT id, status, step_runs, duration_ms FROM execution_stats ORDER BY id"
    ).fetchall()
    steps = conn.execute(
        "SELECT execution_id, run, step_id, status, total_ms FROM execution_step_stats"
        " ORDER BY execution_id, run"
    ).fetchall()
    return [*executions, *steps]


def _catch_up(database_url: str, *, reveal: bool = False) -> None:
    projection = execution_stats_projection()
    if reveal:  # as it would read holding the keys; else as it reads in the product
        projection.reads_personal_data = True
    with Projector(database_url, [projection]) as projector:
        projector.run_until_caught_up()


def test_stats_catch_up_without_any_key_and_build_the_rows_the_keys_would(
    services: Services, database_url: str
) -> None:
    ids = [_execution(services, n) for n in range(3)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        sealed = conn.execute(
            "SELECT count(*) FROM events WHERE data ? '_personal' AND originator_id = ANY(%s)",
            (ids,),
        ).fetchone()
        assert sealed is not None and sealed[0] >= 3 * 3  # created, step outputs, completed

        # A process holding only an unrelated master key: no contact key opens with it.
        hold_master_keys(os.urandom(32), production=True)
        try:
            with pytest.raises(PersonalDataError, match="master key"):
                read_events(conn, after=0, upto=10**9, event_types=["Contact.Created"], limit=1)
            _catch_up(database_url)
            without_keys = _stats_rows(conn)
        finally:
            hold_master_keys(production=False)

        assert [row[1:3] for row in without_keys[:3]] == [("completed", 2)] * 3
        # The same rows as the projection builds reading the personal data with the key.
        conn.execute("TRUNCATE execution_stats, execution_step_stats")
        conn.execute("DELETE FROM projection_tracking WHERE name = 'execution_stats'")
        _catch_up(database_url, reveal=True)
        assert _stats_rows(conn) == without_keys


def test_withheld_events_read_their_personal_attributes_as_erased(
    services: Services, database_url: str
) -> None:
    execution_id = _execution(services, 7)
    types = ["WorkflowExecution.Created", "WorkflowExecution.StepCompleted"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        opened = read_events(conn, after=0, upto=10**9, event_types=types, limit=10)
        withheld = read_events(
            conn, after=0, upto=10**9, event_types=types, limit=10, personal=False
        )
    assert [e.position for e in withheld] == [e.position for e in opened]
    assert all(e.originator_id == execution_id for e in withheld)
    created_open, created_withheld = opened[0].data, withheld[0].data
    assert created_open["input"] == {"note": "private 7"}
    assert created_withheld["input"] == {"note": ERASED}
    assert created_withheld["definition_id"] == created_open["definition_id"]
    assert withheld[1].data["output"] == {"secret": ERASED}
    assert "_personal" not in created_withheld
