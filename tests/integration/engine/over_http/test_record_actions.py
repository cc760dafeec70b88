"""`create_contact` and `archive_contact` ("Create Record", "Delete Record") over HTTP, and the
`record_deleted` trigger that an archived contact fires."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.metadata import CommandContext
from application.services.contacts import ContactDraft
from domain.steps import StepRef
from interfaces.triggers import TemporalStarter, TriggerFollower
from projections import Projector
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, events_of
from tests.integration.engine.over_http.support import (
    activate,
    body,
    ended,
    output,
    run,
    step,
    timeline,
)

CREATE = step(
    "new",
    "create_contact",
    fields={
        "first_name": "{{input.first}}",
        "email": "{{input.email}}",
        "fields.referred_by": "{{contact.first_name}}",
    },
)
ARCHIVE_NEW = step(
    "drop", "archive_contact", contact_id="{{new.contact.id}}", reason="duplicate of {{contact.id}}"
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def triggers(stack: Stack, temporal_env: WorkflowEnvironment) -> AsyncIterator[None]:
    """The record-trigger follower, as `bytedash projector` runs it."""
    stop = threading.Event()
    address = str(temporal_env.client.service_client.config.target_host)
    starter = TemporalStarter(address, "default", stack.task_queue)

    def follow() -> None:
        with Projector(stack.database_url, [TriggerFollower(starter)], poll_interval=0.2) as p:
            p.run_forever(stop)

    thread = threading.Thread(target=follow, name="record-action-triggers", daemon=True)
    thread.start()
    yield
    stop.set()
    await asyncio.to_thread(thread.join, 10)
    starter.close()


async def _contact(caller: Caller, contact_id: str, archived: bool) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        response = await caller.get(f"/api/v1/contacts/{contact_id}")
        if response.status_code == 200 and response.json()["archived"] is archived:
            found: dict[str, Any] = response.json()
            return found
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


async def test_a_definition_creates_a_contact_and_archives_it(stack: Stack) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(caller, body(CREATE, ARCHIVE_NEW))

    execution = await run(
        caller,
        definition_id,
        contact={"first_name": "Ada"},
        input={"first": "Grace", "email": "grace@example.com"},
    )

    assert execution["status"] == "completed", execution["error"]
    assert timeline(execution) == [
        ("start", "completed"),
        ("new", "completed"),
        ("drop", "completed"),
    ]
    created = output(execution, "new")["contact"]
    assert created["first_name"] == "Grace"
    assert created["fields"] == {"referred_by": "Ada"}
    assert created["id"] != execution["contact_id"]
    dropped = output(execution, "drop")
    assert dropped["archived"] is True
    assert dropped["contact"]["id"] == created["id"]
    assert dropped["reason"] == f"duplicate of {execution['contact_id']}"

    shown = await _contact(caller, created["id"], archived=True)
    assert shown["email"] == "grace@example.com"
    assert shown["archived_reason"] == f"duplicate of {execution['contact_id']}"
    own = await _contact(caller, execution["contact_id"], archived=False)
    assert own["first_name"] == "Ada"
    # Both contact events carry the execution's metadata, as every step's effect does.
    recorded = await asyncio.to_thread(events_of, stack.database_url, created["id"])
    assert [e["event_type"] for e in recorded] == ["Contact.Created", "Contact.Archived"]
    for event in recorded:
        assert event["workflow_id"] == f"execution-{execution['id']}"
        assert event["workflow_type"] == "ExecutionWorkflow"
        assert event["actor"] == "user:u1"
        assert event["command_id"].startswith(f"execution-{execution['id']}/")
    assert recorded[0]["command_id"].endswith("-new/create")
    assert recorded[1]["command_id"].endswith("-drop/archive")


async def test_archiving_the_executions_own_contact_fires_record_deleted_definitions(
    stack: Stack, triggers: None
) -> None:
    caller = stack.caller("admin")
    watcher = await activate(
        caller,
        body(
            step("why", "transform", expressions={"reason": "payload.reason"}),
            trigger={"type": "record_deleted"},
        ),
    )
    archiver = await activate(caller, body(step("drop", "archive_contact", reason="left")))

    execution = await run(caller, archiver, contact={"first_name": "Bo"})
    assert execution["status"] == "completed", execution["error"]
    assert output(execution, "drop")["contact"]["id"] == execution["contact_id"]

    deadline = time.monotonic() + 20
    while True:
        page = await caller.get(f"/api/v1/executions?definition_id={watcher}")
        items = page.json()["items"]
        if items:
            break
        assert time.monotonic() < deadline, "no record_deleted execution started"
        await asyncio.sleep(0.2)
    (started,) = items
    fired = await ended(caller, started["id"])
    assert fired["status"] == "completed", fired["error"]
    assert fired["contact_id"] == execution["contact_id"]
    assert fired["trigger"]["type"] == "record_deleted"
    assert fired["trigger"]["event_type"] == "Contact.Archived"
    assert output(fired, "why") == {"reason": "left"}


async def test_archiving_an_archived_contact_fails_the_step_with_the_reason(stack: Stack) -> None:
    caller = stack.caller("admin")
    twice = await activate(
        caller,
        body(step("first", "archive_contact"), step("again", "archive_contact")),
    )

    execution = await run(caller, twice, contact={"first_name": "Cy"})

    assert execution["status"] == "failed"
    assert timeline(execution) == [
        ("start", "completed"),
        ("first", "completed"),
        ("again", "failed"),
    ]
    assert execution["error"].startswith("Step 'again' (Again): ")
    assert "is archived" in execution["error"]


async def test_bad_record_actions_are_refused_when_the_definition_is_posted(
    stack: Stack,
) -> None:
    caller = stack.caller("admin")
    refused = await caller.post(
        "/api/v1/definitions",
        json=body(
            step("a", "create_contact", fields={"phone": "+1 555", "nickname": "x"}),
            step("b", "create_contact"),
            step("c", "archive_contact", contact_id="not-an-id", reason=7),
            trigger={"type": "record_deleted", "contact": {"shoe_size": 4}},
        ),
    )

    problem = assert_problem(refused, 422)
    assert {(e["field"], e["step_id"]) for e in problem["errors"]} == {
        ("steps[0].config.contact.shoe_size", "start"),
        ("steps[1].config.fields", "a"),
        ("steps[1].config.fields.nickname", "a"),
        ("steps[2].config.fields", "b"),
        ("steps[3].config.contact_id", "c"),
        ("steps[3].config.reason", "c"),
    }


def test_a_retried_create_call_creates_one_contact(stack: Stack) -> None:
    """The activity's retry runs the same command (its id derives from the workflow's key):
    the second run creates nothing and answers what the first recorded."""
    executions = stack.services.executions
    org = f"org_{uuid.uuid4().hex[:8]}"
    execution_id = uuid.uuid4()
    workflow = {"workflow_id": f"execution-{execution_id}", "workflow_type": "ExecutionWorkflow"}
    executions.begin(
        CommandContext.new(org, **workflow),
        execution_id,
        definition_id=str(uuid.uuid4()),
        definition_version=1,
        workflow_id=workflow["workflow_id"],
        workflow_run_id="run-1",
        contact_id=None,
        input={},
        trigger={"type": "manual"},
        trigger_step=StepRef("start", "trigger", "Start"),
        trigger_output={},
    )
    ctx = CommandContext(
        org_id=org, command_id=f"execution-{execution_id}/1-new/create", **workflow
    )
    step_ref = StepRef("new", "create_contact", "New")
    first = executions.create_contact_step(ctx, execution_id, step_ref, ContactDraft("Dee"))
    again = executions.create_contact_step(ctx, execution_id, step_ref, ContactDraft("Dee"))

    assert again == first
    created = events_of(stack.database_url, first["contact"]["id"])
    assert [e["event_type"] for e in created] == ["Contact.Created"]


async def test_a_contact_rendered_without_a_name_or_email_fails_the_step(stack: Stack) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(
        caller,
        body(step("new", "create_contact", fields={"first_name": "{{input.first}}", "phone": "1"})),
    )

    execution = await run(caller, definition_id, contact={"first_name": "Ed"}, input={"first": ""})

    assert execution["status"] == "failed"
    assert timeline(execution)[-1] == ("new", "failed")
    assert execution["error"] == (
        "Step 'new' (New): A contact needs at least a first name, a last name or an email."
    )


async def test_archive_contact_undoes_a_created_contact_when_a_later_step_fails(
    stack: Stack,
) -> None:
    """The saga of seed 003 with record actions: a contact created by a step is archived again
    by its compensation when a later step fails."""
    caller = stack.caller("admin")
    create = {
        **CREATE,
        "compensate": {
            "type": "archive_contact",
            "config": {"contact_id": "{{new.contact.id}}", "reason": "rolled back"},
        },
    }
    failing = step("total", "transform", expressions={"sum": "sum(input.prices)"})
    definition_id = await activate(caller, body(create, failing))

    execution = await run(
        caller,
        definition_id,
        contact={"first_name": "Flo"},
        input={"first": "Gus", "email": "gus@example.com", "prices": ["1"]},
    )

    assert execution["status"] == "compensated", execution
    assert [(s["step_id"], s["status"]) for s in execution["steps"]] == [
        ("start", "completed"),
        ("new", "completed"),
        ("total", "failed"),
        ("new-undo", "completed"),
    ]
    created = output(execution, "new")["contact"]["id"]
    shown = await _contact(caller, created, archived=True)
    assert shown["archived_reason"] == "rolled back"
