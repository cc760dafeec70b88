"""Moving running executions to a newer version as an admin sees it: POST
/definitions/{id}/migrations lists in a dry run which executions would move and why the others
cannot, then moves the chosen ones, each at the wait it is parked in; a moved execution goes on
with the new version's steps, the others keep theirs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, error_fields, events_of
from tests.integration.engine.over_http.support import TRIGGER, step, timeline
from tests.integration.engine.servers import Endpoint, http_endpoint


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with http_endpoint() as server:
        yield server


async def _until(
    caller: Caller, execution_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(f"/api/v1/executions/{execution_id}")
        if response.status_code == 200 and check(response.json()):
            execution: dict[str, Any] = response.json()
            return execution
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


def _waiting(execution: dict[str, Any]) -> bool:
    return bool(execution["status"] == "waiting")


def _version_1() -> dict[str, Any]:
    return {
        "name": "Review",
        "statuses": [{"id": "v1_done", "label": "Done (v1)"}],
        "steps": [
            TRIGGER,
            step("review", "assign_task", title="Review", assign_to="role:reviewers"),
            step("wait", "wait_for_task", task_from_step="review"),
            step("done_v1", "update_status", status="v1_done"),
        ],
    }


def _version_2(endpoint: Endpoint, key: str) -> dict[str, Any]:
    return {
        "name": "Review",
        "statuses": [{"id": "v2_done", "label": "Done (v2)"}],
        "steps": [
            TRIGGER,
            step("review", "assign_task", title="Review", assign_to="role:reviewers"),
            step("await_review", "wait_for_task", task_from_step="review"),
            step(
                "notify",
                "http_request",
                method="POST",
                url=f"{endpoint.url}/ok/{key}/notify",
                body={"task": "{{review.task.id}}", "status": "{{await_review.task.status}}"},
            ),
            step("done_v2", "update_status", status="v2_done"),
        ],
    }


async def _start(caller: Caller, definition_id: str) -> str:
    started = await caller.post(
        "/api/v1/executions", json={"definition_id": definition_id, "contact": {"first_name": "A"}}
    )
    assert started.status_code in (201, 202), started.text
    execution_id: str = started.json()["id"]
    return execution_id


async def _finish_task(caller: Caller, execution: dict[str, Any]) -> None:
    (review,) = [s for s in execution["steps"] if s["step_id"] == "review"]
    task_id = review["output"]["task"]["id"]
    changed = await caller.patch(f"/api/v1/tasks/{task_id}", json={"status": "done"})
    assert changed.status_code in (200, 202), changed.text


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["execution_id"]: item for item in report["executions"]}


async def test_a_dry_run_then_the_move_of_one_waiting_execution(
    stack: Stack, endpoint: Endpoint
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org, user="ada")
    member = stack.caller("member", org=org, user="max")
    key = uuid.uuid4().hex[:8]
    created = await admin.post("/api/v1/definitions?wait=true", json=_version_1())
    assert created.status_code == 201, created.text
    definition_id = created.json()["id"]
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    moving, staying, finished = [await _start(member, definition_id) for _ in range(3)]
    for execution_id in (moving, staying):
        await _until(admin, execution_id, _waiting)
    await _finish_task(member, await _until(admin, finished, _waiting))
    await _until(admin, finished, lambda e: e["status"] == "completed")
    published = await admin.put(
        f"/api/v1/definitions/{definition_id}?wait=true", json=_version_2(endpoint, key)
    )
    assert published.status_code == 200, published.text
    path = f"/api/v1/definitions/{definition_id}/migrations"

    # Without a mapping, the step they wait in does not exist in version 2.
    unmapped = await admin.post(path, json={"target_version": 2})
    assert unmapped.status_code == 200, unmapped.text
    report = unmapped.json()
    assert report["dry_run"] is True
    assert set(_by_id(report)) == {moving, staying}  # the finished one is not running
    assert {item["outcome"] for item in report["executions"]} == {"not_moved"}
    assert "'wait' has no mapping" in _by_id(report)[moving]["reason"]

    # With it: both would move; the finished one, asked for by id, cannot (it has ended).
    mapping = {"wait": "await_review"}
    dry = await admin.post(path, json={"target_version": 2, "step_mapping": mapping})
    assert dry.status_code == 200, dry.text
    items = _by_id(dry.json())
    assert {i: (items[i]["outcome"], items[i]["to_step"]) for i in items} == {
        moving: ("would_move", "await_review"),
        staying: ("would_move", "await_review"),
    }
    asked = await admin.post(
        path,
        json={"target_version": 2, "step_mapping": mapping, "execution_ids": [finished, moving]},
    )
    items = _by_id(asked.json())
    assert items[finished]["outcome"] == "not_moved"
    assert "ended (completed)" in items[finished]["reason"]
    assert items[moving]["outcome"] == "would_move"
    # A mapping to a step of another type is refused for the execution, saying why.
    wrong = await admin.post(
        path, json={"target_version": 2, "step_mapping": {"wait": "notify"}, "dry_run": True}
    )
    assert "is a http_request step" in _by_id(wrong.json())[moving]["reason"]
    # Nothing moved in a dry run.
    assert (await admin.get(f"/api/v1/executions/{moving}")).json()["definition_version"] == 1

    moved = await admin.post(
        path,
        json={
            "target_version": 2,
            "step_mapping": mapping,
            "dry_run": False,
            "execution_ids": [moving],
        },
    )

    assert moved.status_code == 200, moved.text
    (item,) = moved.json()["executions"]
    assert (item["outcome"], item["to_step"], item["reason"]) == ("moved", "await_review", None)
    after_move = await _until(
        admin,
        moving,
        lambda e: e["definition_version"] == 2 and e["status"] == "waiting",
    )
    assert timeline(after_move) == [
        ("start", "completed"),
        ("review", "completed"),
        ("wait", "migrated"),
        ("await_review", "waiting"),
    ]
    (left,) = [s for s in after_move["steps"] if s["step_id"] == "wait"]
    assert left["migration"]["from_version"] == 1 and left["migration"]["to_version"] == 2
    assert left["migration"]["requested_by"] == "user:ada"
    migrated = [e for e in events_of(stack.database_url, moving) if "Migrated" in e["topic"]]
    assert [(e["data"]["definition_version"], e["actor"]) for e in migrated] == [(2, "user:ada")]
    again = await admin.post(
        path,
        json={
            "target_version": 2,
            "step_mapping": mapping,
            "dry_run": False,
            "execution_ids": [moving],
        },
    )
    assert "already runs version 2" in again.json()["executions"][0]["reason"]

    # The task it waited for (made by version 1) wakes the new step, and version 2's later
    # steps run; the execution that did not move ends as version 1 says.
    await _finish_task(member, after_move)
    done = await _until(admin, moving, lambda e: e["status"] == "completed")
    assert done["ui_status"] == "v2_done"
    assert timeline(done)[-3:] == [
        ("await_review", "completed"),
        ("notify", "completed"),
        ("done_v2", "completed"),
    ]
    assert endpoint.hits[f"/ok/{key}/notify"] == 1
    (notify,) = [s for s in done["steps"] if s["step_id"] == "notify"]
    assert notify["output"]["body"]["json"]["status"] == "done"

    # The statistics count it under version 2 now, the other one under version 1.
    deadline = time.monotonic() + 30
    while True:
        stats = (await admin.get(f"/api/v1/definitions/{definition_id}/stats")).json()
        versions = {v["version"]: v["by_status"] for v in stats["versions"]}
        if versions.get(2) == {"completed": 1}:
            break
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.1)
    assert versions[1] == {"completed": 1, "waiting": 1}

    unmoved = await _until(admin, staying, _waiting)
    assert unmoved["definition_version"] == 1
    await _finish_task(member, unmoved)
    kept = await _until(admin, staying, lambda e: e["status"] == "completed")
    assert kept["definition_version"] == 1 and kept["ui_status"] == "v1_done"
    assert timeline(kept)[-2:] == [("wait", "completed"), ("done_v1", "completed")]


async def test_a_running_execution_is_not_at_a_safe_point_and_bad_requests_are_refused(
    stack: Stack,
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org)
    member = stack.caller("member", org=org)
    parallel = step(
        "both",
        "parallel",
        branches=[
            {"name": "a", "steps": [step("sig_a", "wait_for_signal", signal="a")]},
            {"name": "b", "steps": [step("sig_b", "wait_for_signal", signal="b")]},
        ],
    )
    body_1 = {"name": "P", "steps": [TRIGGER, parallel]}
    created = await admin.post("/api/v1/definitions?wait=true", json=body_1)
    definition_id = created.json()["id"]
    await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    execution_id = await _start(admin, definition_id)
    await _until(admin, execution_id, lambda e: len(e["steps"]) >= 4)
    later = {"name": "P", "steps": [TRIGGER, step("go", "wait_for_signal", signal="go")]}
    assert (
        await admin.put(f"/api/v1/definitions/{definition_id}?wait=true", json=later)
    ).status_code == 200
    path = f"/api/v1/definitions/{definition_id}/migrations"

    moved = await admin.post(
        path,
        json={"target_version": 2, "step_mapping": {"both": "go"}, "dry_run": False},
    )

    assert moved.status_code == 200, moved.text
    (item,) = moved.json()["executions"]
    assert item["outcome"] == "not_moved"
    assert "not at a safe point" in item["reason"], item
    assert (await admin.get(f"/api/v1/executions/{execution_id}")).json()["definition_version"] == 1
    assert_problem(await member.post(path, json={"target_version": 2}), 403)
    problem = assert_problem(await admin.post(path, json={"target_version": 9}), 422)
    assert error_fields(problem) == {"target_version"}
    assert_problem(await admin.post(path, json={"target_version": 0}), 422)
    assert_problem(
        await admin.post(path, json={"target_version": 2, "step_mapping": {"a b": "c"}}), 422
    )
    assert_problem(
        await admin.post(
            f"/api/v1/definitions/{uuid.uuid4()}/migrations", json={"target_version": 2}
        ),
        404,
    )
    unknown = await admin.post(
        path, json={"target_version": 2, "execution_ids": [str(uuid.uuid4())]}
    )
    assert unknown.json()["executions"][0]["reason"] == "no such execution in this org."


async def test_an_execution_whose_workflow_is_gone_is_reported_not_moved(
    stack: Stack, temporal_env: WorkflowEnvironment
) -> None:
    admin = stack.caller("admin")
    wait = step("go", "wait_for_signal", signal="go")
    created = await admin.post(
        "/api/v1/definitions?wait=true", json={"name": "G", "steps": [TRIGGER, wait]}
    )
    definition_id = created.json()["id"]
    await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    gone, alive = [await _start(admin, definition_id) for _ in range(2)]
    for execution_id in (gone, alive):
        await _until(admin, execution_id, _waiting)
    later = {"name": "G", "steps": [TRIGGER, wait, step("after", "wait_for_signal", signal="x")]}
    await admin.put(f"/api/v1/definitions/{definition_id}?wait=true", json=later)
    # An operator terminated one workflow behind the product's back: the read model still
    # shows it waiting.
    await temporal_env.client.get_workflow_handle(f"execution-{gone}").terminate("by hand")

    moved = await admin.post(
        f"/api/v1/definitions/{definition_id}/migrations",
        json={"target_version": 2, "dry_run": False},
    )

    assert moved.status_code == 200, moved.text
    items = _by_id(moved.json())
    assert items[alive]["outcome"] == "moved" and items[alive]["to_step"] == "go"
    assert items[gone]["outcome"] == "not_moved"
    assert "its workflow" in items[gone]["reason"] or "Temporal" in items[gone]["reason"]
    assert (moved.json()["moved"], moved.json()["not_moved"]) == (1, 1)
