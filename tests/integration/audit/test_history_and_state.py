"""One aggregate through time: its history, and its state rebuilt at a time or a version."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from application.bundle import Services
from application.services import ContactDraft
from projections.audit import aggregate_history, aggregate_state
from projections.audit.aggregates import AGGREGATE_TYPES
from tests.integration.audit.support import (
    MONDAY,
    ONBOARDING_DEFINITION,
    Clock,
    Story,
    ctx,
    onboarding,
)

Conn = psycopg.Connection[Any]
DAY = timedelta(days=1)
VALID_TYPES = ", ".join(AGGREGATE_TYPES)  # the error names every type an auditor may ask for


def ada_through_the_week(services: Services, clock: Clock) -> Any:
    """Created Monday, edited Wednesday, archived Friday."""
    clock.now = MONDAY
    contact_id = services.contacts.create_contact(
        ctx(), ContactDraft(first_name="Ada", email="ada@example.com", fields={"score": 1})
    )
    clock.now = MONDAY + 2 * DAY
    services.contacts.update_contact(
        ctx(),
        contact_id,
        {"email": "ada@lovelace.org", "fields": {"score": 7}, "status": "applicant"},
    )
    clock.now = MONDAY + 4 * DAY
    services.contacts.archive_contact(ctx(), contact_id, "moved away")
    return contact_id


def test_history_lists_an_aggregates_events_in_order(services: Services, conn: Conn) -> None:
    story = onboarding(services)

    history = aggregate_history(conn, "org_a", "workflow_execution", story.execution_id)

    assert history is not None
    assert [e["aggregate_version"] for e in history] == list(range(1, 14))
    assert history[0]["event_type"] == "WorkflowExecution.Created"
    assert history[-1]["event_type"] == "WorkflowExecution.Completed"
    assert {e["aggregate_id"] for e in history} == {str(story.execution_id)}
    positions = [e["position"] for e in history]
    assert positions == sorted(positions)


def test_history_is_none_for_what_does_not_exist_in_the_org(services: Services, conn: Conn) -> None:
    story: Story = onboarding(services)
    assert aggregate_history(conn, "org_b", "contact", story.contact_id) is None
    assert aggregate_history(conn, "org_a", "task", story.contact_id) is None  # wrong type
    assert aggregate_history(conn, "org_a", "contact", "not-a-uuid") is None
    with pytest.raises(ValueError, match=VALID_TYPES):
        aggregate_history(conn, "org_a", "Contact", story.contact_id)


def test_state_as_of_a_time_between_two_changes_shows_the_earlier_values(
    services: Services, clock: Clock, conn: Conn
) -> None:
    contact_id = ada_through_the_week(services, clock)
    tuesday = MONDAY + DAY

    state = aggregate_state(conn, "org_a", "contact", contact_id, as_of=tuesday)

    assert state is not None
    assert state["id"] == str(contact_id) and state["version"] == 1
    assert state["email"] == "ada@example.com"
    assert state["fields"] == {"score": 1}
    assert state["status"] == "active" and state["archived"] is False
    assert state["as_of"] == tuesday.isoformat() and state["requested_version"] is None
    assert state["created_on"] == MONDAY.isoformat()

    thursday = aggregate_state(conn, "org_a", "contact", contact_id, as_of=MONDAY + 3 * DAY)
    assert thursday is not None
    assert (thursday["email"], thursday["status"], thursday["version"]) == (
        "ada@lovelace.org",
        "applicant",
        3,  # the edit and the status change of Wednesday's one command
    )
    assert thursday["archived"] is False

    now = aggregate_state(conn, "org_a", "contact", contact_id)
    assert now is not None
    assert now["archived"] is True and now["archive_reason"] == "moved away"
    assert now["as_of"] is None and now["version"] == 4


def test_as_of_includes_events_at_exactly_that_time(
    services: Services, clock: Clock, conn: Conn
) -> None:
    contact_id = ada_through_the_week(services, clock)
    at_the_edit = aggregate_state(conn, "org_a", "contact", contact_id, as_of=MONDAY + 2 * DAY)
    assert at_the_edit is not None and at_the_edit["version"] == 3


def test_state_at_a_version(services: Services, clock: Clock, conn: Conn) -> None:
    contact_id = ada_through_the_week(services, clock)

    v2 = aggregate_state(conn, "org_a", "contact", contact_id, version=2)
    assert v2 is not None
    assert v2["version"] == 2 and v2["requested_version"] == 2
    assert v2["email"] == "ada@lovelace.org" and v2["status"] == "active"

    beyond = aggregate_state(conn, "org_a", "contact", contact_id, version=99)
    assert beyond is not None and beyond["version"] == 4


def test_state_before_the_first_event_or_at_version_zero_is_none(
    services: Services, clock: Clock, conn: Conn
) -> None:
    contact_id = ada_through_the_week(services, clock)
    assert aggregate_state(conn, "org_a", "contact", contact_id, as_of=MONDAY - DAY) is None
    assert aggregate_state(conn, "org_a", "contact", contact_id, version=0) is None
    assert aggregate_state(conn, "org_b", "contact", contact_id) is None
    assert aggregate_state(conn, "org_a", "task", contact_id) is None
    assert aggregate_state(conn, "org_a", "contact", "nope") is None


def test_state_refuses_bad_questions(services: Services, clock: Clock, conn: Conn) -> None:
    contact_id = ada_through_the_week(services, clock)
    with pytest.raises(ValueError, match=VALID_TYPES):
        aggregate_state(conn, "org_a", "person", contact_id)
    with pytest.raises(ValueError, match="timezone"):
        aggregate_state(conn, "org_a", "contact", contact_id, as_of=MONDAY.replace(tzinfo=None))
    with pytest.raises(ValueError, match="not both"):
        aggregate_state(conn, "org_a", "contact", contact_id, as_of=MONDAY, version=1)
    with pytest.raises(ValueError, match="version"):
        aggregate_state(conn, "org_a", "contact", contact_id, version=-1)


def test_every_aggregate_type_rebuilds_to_json_ready_state(
    services: Services, clock: Clock, conn: Conn
) -> None:
    story = onboarding(services)
    definition_id = services.definitions.create_definition(ctx(), ONBOARDING_DEFINITION)
    services.definitions.activate(ctx(), definition_id)

    execution = aggregate_state(conn, "org_a", "workflow_execution", story.execution_id)
    assert execution is not None
    assert execution["status"] == "completed" and execution["ui_status"] == "approved"
    assert execution["contact_id"] == str(story.contact_id)
    assert [s["step_id"] for s in execution["step_history"]] == [
        "step_1",
        "step_2",
        "step_3",
        "step_4",
    ]
    waiting = aggregate_state(conn, "org_a", "workflow_execution", story.execution_id, version=8)
    assert waiting is not None and waiting["status"] == "waiting"

    task = aggregate_state(conn, "org_a", "task", story.task_id)
    assert task is not None and task["status"] == "done"
    assert task["metadata"] == {"outcome": "approved"}

    definition = aggregate_state(conn, "org_a", "workflow_definition", definition_id)
    assert definition is not None
    assert definition["is_active"] is True and definition["name"] == "Applicant Onboarding"
    assert set(definition["versions"]) == {"1"}  # JSON object keys are strings
    # Version 1 is the bare creation: no published version yet, so no name, and no error.
    bare = aggregate_state(conn, "org_a", "workflow_definition", definition_id, version=1)
    assert bare is not None and bare["name"] is None and bare["current_version"] == 0

    for state in (execution, task, definition, bare):
        json.dumps(state)
