"""Each read model, built by the real runner from a realistic event sequence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from projections import default_projections
from projections.queries import get_contact, get_definition, get_execution, get_task
from tests.integration.projections.eventlog import EventLog, append
from tests.integration.projections.scenario import onboarding
from tests.integration.projections.support import assert_equals_fresh_rebuild, project_all

ORG = "org_a"


def test_the_onboarding_story_is_projected_into_every_read_model(
    database_url: str, log: EventLog, conn: psycopg.Connection[Any]
) -> None:
    story = onboarding(log)
    events = log.take()
    append(database_url, events)

    # Each event once for every read model that reads its type (executions' also feed the stats).
    readers = default_projections()
    assert project_all(database_url) == sum(
        event.event_type in projection.event_types for projection in readers for event in events
    )

    contact = get_contact(conn, ORG, story.contact_id)
    assert contact is not None
    assert contact["first_name"] == "Ada"
    assert contact["status"] == "active"
    assert contact["fields"] == {"cohort": "2024-05"}
    assert contact["version"] == 3

    task = get_task(conn, ORG, story.task_id)
    assert task is not None
    assert task["assigned_to"] == "user:u7"
    assert task["status"] == "done"
    assert task["metadata"] == {"outcome": "approved"}
    assert task["completed_at"] == datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
    assert task["due_date"] == datetime(2024, 5, 4, 9, 0, tzinfo=UTC)
    assert task["execution_id"] == str(story.execution_id)
    assert task["contact_id"] == str(story.contact_id)

    execution = get_execution(conn, ORG, story.execution_id)
    assert execution is not None
    assert execution["status"] == "completed"
    assert execution["ui_status"] == "approved"
    assert execution["definition_id"] == str(story.definition_id)
    assert execution["definition_version"] == 1
    assert execution["workflow_id"] == f"execution-{story.execution_id}"
    assert execution["workflow_run_id"] == "run-1"
    assert execution["output"] == {"approved": True}
    assert execution["completed_at"] is not None
    steps = execution["steps"]
    assert [(s["step_id"], s["status"]) for s in steps] == [
        ("step_1", "completed"),
        ("step_2", "completed"),
        ("step_3", "completed"),
        ("step_4", "completed"),
        ("step_5", "completed"),
    ]
    assert steps[2]["waiting_for"] == "task"
    assert steps[2]["reminders"][0]["message"] == "Reminder: review Ada"
    assert steps[4]["emails"][0]["delivered"] is True
    assert all(s["started_at"] <= s["completed_at"] for s in steps)

    cancelled = get_execution(conn, ORG, story.cancelled_execution_id)
    assert cancelled is not None
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "user:u7"
    assert cancelled["steps"][0]["status"] == "cancelled"

    definition = get_definition(conn, ORG, story.definition_id)
    assert definition is not None
    assert definition["name"] == "Applicant Onboarding v2"
    assert definition["current_version"] == 2
    assert definition["definition_version"] == 2
    assert definition["is_active"] is True
    assert definition["active_version"] == 1
    assert definition["steps"][1]["name"] == "Review v2"

    first = get_definition(conn, ORG, story.definition_id, version=1)
    assert first is not None
    assert first["definition_version"] == 1
    assert first["name"] == "Applicant Onboarding"
    assert first["steps"][1]["name"] == "Review v1"

    assert_equals_fresh_rebuild(database_url)


def test_events_appended_after_a_catch_up_update_the_rows_in_place(
    database_url: str, log: EventLog, conn: psycopg.Connection[Any]
) -> None:
    contact_id = log.contact(status="lead")
    append(database_url, log.take())
    project_all(database_url)

    log.add(contact_id, "Contact.StatusChanged", old_status="lead", new_status="active")
    log.add(contact_id, "Contact.Archived", reason="moved away")
    append(database_url, log.take())
    assert project_all(database_url) == 2

    contact = get_contact(conn, ORG, contact_id)
    assert contact is not None
    assert (contact["status"], contact["archived"], contact["version"]) == ("active", True, 3)
    assert conn.execute("SELECT count(*) FROM contacts").fetchone() == (1,)


def test_batches_smaller_than_an_aggregates_history_build_the_same_rows(
    database_url: str, log: EventLog
) -> None:
    onboarding(log)
    append(database_url, log.take())
    # Every batch holds at most 3 events, so rows are loaded and stored again many times.
    project_all(database_url, batch_size=3)
    assert_equals_fresh_rebuild(database_url)


def test_custom_fields_keep_their_exact_values_through_the_projection(
    database_url: str, log: EventLog, conn: psycopg.Connection[Any]
) -> None:
    """The projector decodes and encodes JSON with orjson, which turns integers beyond 64 bits
    into floats: such a document must take the exact path, and a contact's fields must read
    back exactly as they were recorded, whether its row was written by COPY (new) or by the
    upsert (an update in a later batch)."""
    huge = 123456789012345678901234567890
    created = log.contact(fields={"account": huge, "score": 0.1, "name": "Zoë 🚀", "ok": None})
    updated = log.contact()
    append(database_url, log.take())
    assert project_all(database_url) == 2
    log.add(updated, "Contact.FieldsUpdated", changes={"fields": {"old": {}, "new": {"n": -huge}}})
    append(database_url, log.take())
    assert project_all(database_url) == 1

    row = get_contact(conn, ORG, created)
    assert row is not None
    assert row["fields"] == {"account": huge, "score": 0.1, "name": "Zoë 🚀", "ok": None}
    row = get_contact(conn, ORG, updated)
    assert row is not None
    assert row["fields"] == {"n": -huge}
