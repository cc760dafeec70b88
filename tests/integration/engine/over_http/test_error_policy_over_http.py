"""Per-step error policy as a client sees it: `retry` and `on_failure` checked when the
definition is posted, a parked execution in GET /executions?status=needs_attention, and
POST /executions/{id}/steps/{step_id}/retry | skip for admins only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, error_fields, events_of
from tests.integration.engine.over_http.support import activate, body, step
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


def _parked(execution: dict[str, Any]) -> bool:
    return bool(execution["status"] == "needs_attention")


async def _start(caller: Caller, definition_id: str) -> str:
    started = await caller.post("/api/v1/executions", json={"definition_id": definition_id})
    assert started.status_code in (201, 202), started.text
    execution_id: str = started.json()["id"]
    return execution_id


async def test_retry_and_on_failure_are_checked_when_the_definition_is_posted(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    call = step("call", "http_request", method="GET", url="https://example.com")
    call["retry"] = {"attempts": 0, "backoff_seconds": "soon", "jitter": True}
    call["on_failure"] = "nowhere"
    task = step("task", "assign_task", title="T", assign_to="role:a")
    task["retry"] = {"attempts": 2}
    task["on_failure"] = "task"

    response = await admin.post("/api/v1/definitions", json=body(call, task))

    problem = assert_problem(response, 422)
    assert {
        "steps[1].retry.attempts",
        "steps[1].retry.backoff_seconds",
        "steps[1].retry.jitter",
        "steps[1].on_failure",
        "steps[2].retry",
        "steps[2].on_failure",
    } <= error_fields(problem)


async def test_an_admin_retries_a_parked_step_over_http_and_others_may_not(
    stack: Stack, endpoint: Endpoint
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org, user="ada")
    member = stack.caller("member", org=org)
    viewer = stack.caller("viewer", org=org)
    key = uuid.uuid4().hex[:8]
    endpoint.failures[key] = 1
    sync = step("sync", "http_request", method="POST", url=f"{endpoint.url}/flaky/{key}")
    sync["retry"] = {"attempts": 1}
    sync["on_failure"] = "park"
    after = step("after", "http_request", method="POST", url=f"{endpoint.url}/ok/{key}/after")
    definition_id = await activate(admin, body(sync, after))

    execution_id = await _start(admin, definition_id)
    parked = await _until(admin, execution_id, _parked)

    assert parked["current_step_id"] == "sync"
    (entry,) = [s for s in parked["steps"] if s["step_id"] == "sync"]
    assert entry["status"] == "needs_attention" and "503" in entry["error"]
    listed = await admin.get(
        "/api/v1/executions", params={"status": "needs_attention", "definition_id": definition_id}
    )
    assert [item["id"] for item in listed.json()["items"]] == [execution_id]

    path = f"/api/v1/executions/{execution_id}/steps/sync/retry"
    assert_problem(await member.post(path), 403)
    assert_problem(await viewer.post(path), 403)
    assert_problem(await admin.post(f"/api/v1/executions/{execution_id}/steps/after/retry"), 409)
    assert_problem(await admin.post(f"/api/v1/executions/{execution_id}/steps/bad%20id/skip"), 422)
    assert_problem(await admin.post(path, json={"reason": "x", "force": True}), 422)
    assert_problem(await admin.post(f"/api/v1/executions/{uuid.uuid4()}/steps/sync/retry"), 404)

    accepted = await admin.post(path, json={"reason": "endpoint fixed"})
    assert accepted.status_code == 202, accepted.text
    done = await _until(admin, execution_id, lambda e: e["status"] == "completed")

    assert [(s["step_id"], s["status"]) for s in done["steps"]] == [
        ("start", "completed"),
        ("sync", "failed"),
        ("sync", "completed"),
        ("after", "completed"),
    ]
    assert endpoint.hits[f"/ok/{key}/after"] == 1
    assert done["steps"][1]["resolution"]["requested_by"] == "user:ada"
    assert done["steps"][1]["resolution"]["reason"] == "endpoint fixed"
    resolved = [
        e
        for e in events_of(stack.database_url, execution_id)
        if e["event_type"].endswith("ParkedStepResolved")
    ]
    assert [(e["data"]["action"], e["actor"]) for e in resolved] == [("retry", "user:ada")]
    # Not parked any more: a second answer is refused.
    assert_problem(await admin.post(path), 409)


async def test_an_owner_skips_a_parked_step_over_http(stack: Stack, endpoint: Endpoint) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    owner = stack.caller("owner", org=org, user="olga")
    sync = step("sync", "http_request", method="POST", url=f"{endpoint.url}/status/400")
    sync["on_failure"] = "park"
    definition_id = await activate(owner, body(sync))
    execution_id = await _start(owner, definition_id)
    await _until(owner, execution_id, _parked)

    accepted = await owner.post(f"/api/v1/executions/{execution_id}/steps/sync/skip")

    assert accepted.status_code == 202, accepted.text
    done = await _until(owner, execution_id, lambda e: e["status"] == "completed")
    (entry,) = [s for s in done["steps"] if s["step_id"] == "sync"]
    assert entry["status"] == "skipped"
    assert entry["resolution"]["action"] == "skip"
    assert entry["resolution"]["requested_by"] == "user:olga"


async def test_a_parked_loop_retried_by_an_admin_goes_on_at_the_iteration_that_failed(
    stack: Stack, endpoint: Endpoint
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org, user="ada")
    key = uuid.uuid4().hex[:8]
    endpoint.failures[f"{key}-eu"] = 1_000
    sync = step(
        "sync", "http_request", method="POST", url=f"{endpoint.url}/flaky/{key}-{{{{loop.item}}}}"
    )
    sync["retry"] = {"attempts": 1}
    loop = {
        "id": "each_region",
        "type": "for_each",
        "name": "Each region",
        "config": {"items": ["us", "eu", "ap"], "steps": [sync]},
        "on_failure": "park",
    }
    definition_id = await activate(admin, body(loop))
    execution_id = await _start(admin, definition_id)
    parked = await _until(admin, execution_id, _parked)
    assert parked["current_step_id"] == "each_region"

    endpoint.failures[f"{key}-eu"] = 0
    path = f"/api/v1/executions/{execution_id}/steps/each_region/retry"
    accepted = await admin.post(path, json={"reason": "eu is back"})
    assert accepted.status_code == 202, accepted.text
    done = await _until(admin, execution_id, lambda e: e["status"] == "completed")

    # us was synced once, before the park; eu failed then and went through now; then ap.
    assert endpoint.hits[f"/flaky/{key}-us"] == 1
    assert endpoint.hits[f"/flaky/{key}-eu"] == 2
    assert endpoint.hits[f"/flaky/{key}-ap"] == 1
    (last,) = [s for s in done["steps"] if s["step_id"] == "each_region"][-1:]
    assert last["status"] == "completed" and last["output"]["count"] == 3
    assert [o["sync"]["body"]["attempt"] for o in last["output"]["outputs"]] == [1, 2, 1]
