"""Executions are read-only here; and no route lets one org see or change another's data."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from application.metadata import CommandContext
from domain.steps import StepRef, Wait
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem
from tests.integration.api.test_definitions import DEFINITION

WORKFLOW = {"workflow_id": "exec-wf-1", "workflow_type": "ExecutionWorkflow"}


def record_execution(stack: Stack, org: str, definition_id: str, contact_id: str) -> str:
    """An execution written the way the engine writes one: through its step commands."""
    executions = stack.services.executions
    execution_id = uuid.uuid4()

    def ctx() -> CommandContext:
        return CommandContext.new(org, **WORKFLOW)

    executions.begin(
        ctx(),
        execution_id,
        definition_id=definition_id,
        definition_version=1,
        workflow_id="exec-wf-1",
        workflow_run_id="run-1",
        contact_id=contact_id,
        input={"source": "form"},
        trigger={"type": "form_submission"},
        trigger_step=StepRef("step_1", "trigger", "Form Submitted"),
        trigger_output={},
    )
    executions.record_step(
        ctx(),
        execution_id,
        StepRef("step_2", "condition", "Route"),
        output={"value": "form", "branch": "step_3", "matched": 0},
    )
    until = datetime.now(UTC) + timedelta(days=7)
    executions.record_step(
        ctx(),
        execution_id,
        StepRef("step_3", "wait_for_task", "Wait"),
        wait=Wait("task", until=until),
    )
    return str(execution_id)


async def visible(caller: Caller, path: str, status: str = "waiting") -> dict[str, Any]:
    """The execution at `path` once the projector has applied its events up to `status`."""
    for _ in range(250):
        response = await caller.get(path)
        if response.status_code == 200 and response.json()["status"] == status:
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never reached {status}")


async def test_an_execution_reads_with_its_step_timeline_and_filters(stack: Stack) -> None:
    caller = stack.caller("viewer")
    definition_id, contact_id = str(uuid.uuid4()), str(uuid.uuid4())
    execution_id = await asyncio.to_thread(
        record_execution, stack, caller.org, definition_id, contact_id
    )

    execution = await visible(caller, f"/api/v1/executions/{execution_id}")

    assert execution["status"] == "waiting"
    assert execution["current_step_id"] == "step_3"
    assert execution["definition_id"] == definition_id
    assert execution["definition_version"] == 1
    assert execution["workflow_id"] == "exec-wf-1"
    assert execution["ui_status"] is None
    assert [(s["step_id"], s["status"]) for s in execution["steps"]] == [
        ("step_1", "completed"),
        ("step_2", "completed"),
        ("step_3", "waiting"),
    ]
    assert execution["steps"][0]["started_at"]
    for params in (
        {"status": "waiting"},
        {"definition_id": definition_id},
        {"contact_id": contact_id},
    ):
        page = (await caller.get("/api/v1/executions", params=params)).json()
        assert [e["id"] for e in page["items"]] == [execution_id], params
    none = (await caller.get("/api/v1/executions", params={"status": "completed"})).json()
    assert none["items"] == []
    lean = (await caller.get("/api/v1/executions", params={"include_steps": False})).json()
    assert lean["items"][0]["steps"] is None
    bad = await caller.get("/api/v1/executions", params={"status": "sleeping"})
    assert_problem(bad, 422)


async def test_another_orgs_ids_answer_404_on_every_route(stack: Stack) -> None:
    owner = stack.caller("admin")
    stranger = stack.caller("admin")
    contact = (await owner.post("/api/v1/contacts?wait=true", json={"first_name": "Ada"})).json()
    task = (
        await owner.post(
            "/api/v1/tasks?wait=true",
            json={"title": "t", "assigned_to": f"user:{stranger.user}"},
        )
    ).json()
    definition = (await owner.post("/api/v1/definitions?wait=true", json=DEFINITION)).json()
    execution_id = await asyncio.to_thread(
        record_execution, stack, owner.org, definition["id"], contact["id"]
    )
    await visible(owner, f"/api/v1/executions/{execution_id}")

    reads = [
        ("/api/v1/contacts/{}", contact["id"]),
        ("/api/v1/tasks/{}", task["id"]),
        ("/api/v1/executions/{}", execution_id),
        ("/api/v1/definitions/{}", definition["id"]),
        ("/api/v1/definitions/{}?version=1", definition["id"]),
    ]
    for template, resource_id in reads:
        path = template.format(resource_id)
        assert (await owner.get(path)).status_code == 200, path
        theirs = assert_problem(await stranger.get(path), 404)
        missing = assert_problem(await stranger.get(template.format(uuid.uuid4())), 404)
        assert (theirs["type"], theirs["title"]) == (missing["type"], missing["title"])
    for path in ("/contacts", "/tasks", "/me/tasks", "/executions", "/definitions"):
        page = (await stranger.get(f"/api/v1{path}")).json()
        assert page == {"items": [], "next_cursor": None}, path

    assert_problem(
        await stranger.patch(f"/api/v1/contacts/{contact['id']}", json={"first_name": "Eve"}),
        404,
    )
    assert_problem(
        await stranger.patch(f"/api/v1/tasks/{task['id']}", json={"status": "done"}), 404
    )
    unchanged = (await owner.get(f"/api/v1/tasks/{task['id']}")).json()
    assert unchanged["status"] == "todo"
