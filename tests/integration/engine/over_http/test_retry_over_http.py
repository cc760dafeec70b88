"""Retrying a failed or timed-out execution as a client sees it: POST /executions/{id}/retry
runs the same execution again (same id, contact, version, earlier outputs) from the step it
failed on or an earlier one, the timeline keeps both attempts with who asked, and the cases it
cannot apply to are refused with a problem that says why."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, error_fields, events_of
from tests.integration.engine.over_http.support import activate, body, ended, step, timeline
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


async def _start(caller: Caller, definition_id: str, **start: Any) -> str:
    started = await caller.post(
        "/api/v1/executions", json={"definition_id": definition_id, **start}
    )
    assert started.status_code in (201, 202), started.text
    execution_id: str = started.json()["id"]
    return execution_id


def _flaky_definition(endpoint: Endpoint, key: str) -> dict[str, Any]:
    """first (an http call that works) → calc (a transform) → sync (fails until fixed) → after
    (posts what the earlier steps produced)."""
    first = step("first", "http_request", method="POST", url=f"{endpoint.url}/ok/{key}/first")
    calc = step("calc", "transform", expressions={"code": "join('-', [input.region, 'x'])"})
    sync = step("sync", "http_request", method="POST", url=f"{endpoint.url}/flaky/{key}")
    sync["retry"] = {"attempts": 1}
    after = step(
        "after",
        "http_request",
        method="POST",
        url=f"{endpoint.url}/ok/{key}/after",
        body={
            "code": "{{calc.code}}",
            "first": "{{first.status}}",
            "name": "{{contact.first_name}}",
            "version": "{{execution.definition_version}}",
        },
    )
    return body(first, calc, sync, after)


async def test_a_member_retries_a_failed_execution_once_the_endpoint_is_fixed(
    stack: Stack, endpoint: Endpoint
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org, user="ada")
    member = stack.caller("member", org=org, user="max")
    key = uuid.uuid4().hex[:8]
    endpoint.failures[key] = 1_000
    definition_id = await activate(admin, _flaky_definition(endpoint, key))
    execution_id = await _start(
        member,
        definition_id,
        contact={"first_name": "Rita", "email": "rita@example.com"},
        input={"region": "eu"},
    )
    failed = await ended(member, execution_id)
    assert failed["status"] == "failed" and "503" in failed["error"]
    assert failed["current_step_id"] == "sync"
    contact_id = failed["contact_id"]

    endpoint.failures[key] = 0  # the endpoint is fixed
    accepted = await member.post(
        f"/api/v1/executions/{execution_id}/retry", json={"reason": "CRM is back"}
    )

    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["id"] == execution_id
    assert accepted.json()["workflow_id"] == f"execution-{execution_id}"
    done = await _until(member, execution_id, lambda e: e["status"] == "completed")
    assert timeline(done) == [
        ("start", "completed"),
        ("first", "completed"),
        ("calc", "completed"),
        ("sync", "failed"),
        ("sync", "retried"),
        ("sync", "completed"),
        ("after", "completed"),
    ]
    marker = done["steps"][4]
    assert marker["retry"]["requested_by"] == "user:max"
    assert marker["retry"]["reason"] == "CRM is back"
    assert marker["retry"]["attempt"] == 1
    assert marker["retry"]["previous_status"] == "failed"
    assert "503" in marker["retry"]["previous_error"]
    # The same execution: its contact, version, and the outputs of the first attempt's steps.
    assert done["id"] == execution_id and done["contact_id"] == contact_id
    assert done["definition_version"] == 1 and done["error"] is None
    assert done["steps"][-1]["output"]["body"]["json"] == {
        "code": "eu-x",
        "first": 200,
        "name": "Rita",
        "version": 1,
    }
    assert endpoint.hits[f"/ok/{key}/first"] == 1  # not run again
    retried = [e for e in events_of(stack.database_url, execution_id) if "Retried" in e["topic"]]
    assert [(e["data"]["from_step"], e["actor"]) for e in retried] == [("sync", "user:max")]
    # The statistics count it once, completed (the retry reopened it, its end came later).
    deadline = time.monotonic() + 30
    while True:
        stats = (await member.get(f"/api/v1/definitions/{definition_id}/stats")).json()
        if stats["executions"]["by_status"] == {"completed": 1}:
            break
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.1)
    assert stats["executions"]["total"] == 1 and stats["executions"]["success_rate"] == 1.0
    # Once completed, it cannot be retried again.
    problem = assert_problem(await member.post(f"/api/v1/executions/{execution_id}/retry"), 409)
    assert "completed" in problem["detail"]


async def test_a_retry_from_an_earlier_step_runs_it_again(stack: Stack, endpoint: Endpoint) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org, user="ada")
    key = uuid.uuid4().hex[:8]
    endpoint.failures[key] = 1_000
    definition_id = await activate(admin, _flaky_definition(endpoint, key))
    execution_id = await _start(
        admin, definition_id, contact={"first_name": "Sam"}, input={"region": "us"}
    )
    assert (await ended(admin, execution_id))["status"] == "failed"

    # Retried while still broken: it fails again, and is retried again, from `first`.
    again = await admin.post(f"/api/v1/executions/{execution_id}/retry")
    assert again.status_code == 202, again.text
    failed_again = await _until(
        admin, execution_id, lambda e: e["status"] == "failed" and len(e["steps"]) > 5
    )
    assert timeline(failed_again)[-2:] == [("sync", "retried"), ("sync", "failed")]
    endpoint.failures[key] = 0
    accepted = await admin.post(
        f"/api/v1/executions/{execution_id}/retry", json={"from_step": "first"}
    )

    assert accepted.status_code == 202, accepted.text
    done = await _until(admin, execution_id, lambda e: e["status"] == "completed")
    assert timeline(done)[6:] == [
        ("first", "retried"),
        ("first", "completed"),
        ("calc", "completed"),
        ("sync", "completed"),
        ("after", "completed"),
    ]
    assert done["steps"][6]["retry"]["attempt"] == 2
    assert endpoint.hits[f"/ok/{key}/first"] == 2
    assert endpoint.hits[f"/ok/{key}/after"] == 1


async def test_a_timed_out_execution_is_retried_and_waits_again(stack: Stack) -> None:
    admin = stack.caller("admin")
    wait = step("go", "wait_for_signal", signal="go", timeout_hours=0.0003)
    status = step("status", "update_status", status="went")
    definition_id = await activate(admin, body(wait, status))
    execution_id = await _start(admin, definition_id)
    timed_out = await ended(admin, execution_id)
    assert timed_out["status"] == "timed_out"

    accepted = await admin.post(f"/api/v1/executions/{execution_id}/retry")
    assert accepted.status_code == 202, accepted.text
    await _until(admin, execution_id, lambda e: e["status"] == "waiting")
    signalled = await admin.post(f"/api/v1/executions/{execution_id}/signals/go", json={})
    assert signalled.status_code == 202, signalled.text

    done = await _until(admin, execution_id, lambda e: e["status"] == "completed")
    assert done["ui_status"] == "went"
    assert timeline(done) == [
        ("start", "completed"),
        ("go", "failed"),
        ("go", "retried"),
        ("go", "completed"),
        ("status", "completed"),
    ]


async def test_what_cannot_be_retried_is_refused_with_the_reason(
    stack: Stack, endpoint: Endpoint
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org)
    viewer = stack.caller("viewer", org=org)
    key = uuid.uuid4().hex[:8]
    inner = step("inner", "http_request", method="POST", url=f"{endpoint.url}/status/500")
    inner["retry"] = {"attempts": 1}
    both = step(
        "both",
        "parallel",
        join="all",
        branches=[
            {"name": "a", "steps": [inner]},
            {"name": "b", "steps": [step("ok_b", "update_status", status="b")]},
        ],
    )
    failing = await activate(admin, body(both))
    failed_id = await _start(admin, failing)
    failed = await ended(admin, failed_id)
    assert failed["status"] == "failed"

    path = f"/api/v1/executions/{failed_id}/retry"
    assert_problem(await viewer.post(path), 403)
    problem = assert_problem(await admin.post(path, json={"from_step": "inner"}), 422)
    assert error_fields(problem) == {"from_step"}
    assert "inside the parallel step 'both'" in problem["errors"][0]["message"]
    problem = assert_problem(await admin.post(path, json={"from_step": "nope"}), 422)
    assert "not a step" in problem["errors"][0]["message"]
    problem = assert_problem(await admin.post(path, json={"from_step": "start"}), 422)
    assert "trigger" in problem["errors"][0]["message"]
    assert_problem(await admin.post(path, json={"from_step": "bad id"}), 422)
    assert_problem(await admin.post(path, json={"force": True}), 422)
    assert_problem(await admin.post(f"/api/v1/executions/{uuid.uuid4()}/retry"), 404)

    # Running (waiting on a signal): refused, and so is a cancelled one.
    waiting_def = await activate(admin, body(step("go", "wait_for_signal", signal="go")))
    waiting_id = await _start(admin, waiting_def)
    await _until(admin, waiting_id, lambda e: e["status"] == "waiting")
    problem = assert_problem(await admin.post(f"/api/v1/executions/{waiting_id}/retry"), 409)
    assert "waiting" in problem["detail"]
    cancelled = await admin.post(f"/api/v1/executions/{waiting_id}/cancel", json={})
    assert cancelled.status_code == 202
    await ended(admin, waiting_id)
    problem = assert_problem(await admin.post(f"/api/v1/executions/{waiting_id}/retry"), 409)
    assert "cancelled" in problem["detail"]

    # Compensated: its steps were undone, so it cannot go on.
    reserve = step("reserve", "http_request", method="POST", url=f"{endpoint.url}/ok/{key}/r")
    reserve["compensate"] = {
        "type": "http_request",
        "config": {"method": "POST", "url": f"{endpoint.url}/ok/{key}/undo"},
    }
    charge = step("charge", "http_request", method="POST", url=f"{endpoint.url}/status/402")
    compensating = await activate(admin, body(reserve, charge))
    compensated_id = await _start(admin, compensating)
    assert (await ended(admin, compensated_id))["status"] == "compensated"
    problem = assert_problem(await admin.post(f"/api/v1/executions/{compensated_id}/retry"), 409)
    assert "undone" in problem["detail"]

    # The default step of a failure inside a parallel step is the parallel step itself.
    endpoint_fixed = await admin.post(path, json={"reason": "again"})
    assert endpoint_fixed.status_code == 202, endpoint_fixed.text
    again = await _until(
        admin,
        failed_id,
        lambda e: e["status"] == "failed" and any(s["status"] == "retried" for s in e["steps"]),
    )
    (marker,) = [s for s in again["steps"] if s["status"] == "retried"]
    assert marker["step_id"] == "both"


async def test_a_retried_run_waits_for_the_task_the_first_attempt_assigned(
    stack: Stack, endpoint: Endpoint
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org)
    member = stack.caller("member", org=org)
    key = uuid.uuid4().hex[:8]
    endpoint.failures[key] = 1_000
    review = step("review", "assign_task", title="Review", assign_to="role:reviewers")
    sync = step("sync", "http_request", method="POST", url=f"{endpoint.url}/flaky/{key}")
    sync["retry"] = {"attempts": 1}
    wait = step("wait", "wait_for_task", task_from_step="review")
    definition_id = await activate(admin, body(review, sync, wait))
    execution_id = await _start(member, definition_id)
    failed = await ended(member, execution_id)
    assert failed["status"] == "failed" and failed["current_step_id"] == "sync"
    task_id = failed["steps"][1]["output"]["task"]["id"]
    endpoint.failures[key] = 0

    accepted = await member.post(f"/api/v1/executions/{execution_id}/retry")
    assert accepted.status_code == 202, accepted.text
    waiting = await _until(member, execution_id, lambda e: e["status"] == "waiting")
    assert waiting["steps"][-1]["step_id"] == "wait"
    changed = await member.patch(f"/api/v1/tasks/{task_id}", json={"status": "done"})
    assert changed.status_code in (200, 202), changed.text

    done = await _until(member, execution_id, lambda e: e["status"] == "completed")
    assert timeline(done) == [
        ("start", "completed"),
        ("review", "completed"),
        ("sync", "failed"),
        ("sync", "retried"),
        ("sync", "completed"),
        ("wait", "completed"),
    ]
    assert done["steps"][-1]["output"]["task"]["id"] == task_id
    assert done["steps"][-1]["output"]["task"]["status"] == "done"


def _ended_again(execution: dict[str, Any]) -> bool:
    """The retry was recorded and its run ended (the execution is failed until it begins)."""
    retried = any(entry["status"] == "retried" for entry in execution["steps"])
    return retried and execution["status"] in ("completed", "failed")


def _syncing_loop(endpoint: Endpoint, key: str) -> dict[str, Any]:
    """each_region (a for_each over the input's regions) posts each region to the flaky
    endpoint (its own path per region), then `after` posts how many it synced."""
    sync = step(
        "sync", "http_request", method="POST", url=f"{endpoint.url}/flaky/{key}-{{{{loop.item}}}}"
    )
    sync["retry"] = {"attempts": 1}
    loop = {
        "id": "each_region",
        "type": "for_each",
        "name": "Each region",
        "config": {"items": "{{input.regions}}", "steps": [sync]},
    }
    after = step(
        "after",
        "http_request",
        method="POST",
        url=f"{endpoint.url}/ok/{key}/after",
        body={"count": "{{each_region.count}}"},
    )
    return body(loop, after)


async def test_a_retry_of_a_failed_loop_goes_on_at_the_iteration_that_failed(
    stack: Stack, endpoint: Endpoint
) -> None:
    """Iterations that completed are not run again (their calls are not made twice) and their
    outputs are kept; the one that failed and the rest run."""
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org, user="ada")
    key = uuid.uuid4().hex[:8]
    endpoint.failures[f"{key}-eu"] = 1_000
    definition_id = await activate(admin, _syncing_loop(endpoint, key))
    execution_id = await _start(admin, definition_id, input={"regions": ["us", "eu", "ap"]})
    failed = await ended(admin, execution_id)
    assert failed["status"] == "failed" and "iteration 1 failed" in failed["error"]
    assert endpoint.hits[f"/flaky/{key}-us"] == 1
    assert endpoint.hits[f"/flaky/{key}-ap"] == 0

    endpoint.failures[f"{key}-eu"] = 0  # fixed
    accepted = await admin.post(f"/api/v1/executions/{execution_id}/retry", json={})
    assert accepted.status_code == 202, accepted.text
    done = await _until(admin, execution_id, _ended_again)

    assert done["status"] == "completed", done["error"]
    # us was synced once, by the first attempt; eu failed then, and went through now; then ap.
    assert endpoint.hits[f"/flaky/{key}-us"] == 1
    assert endpoint.hits[f"/flaky/{key}-eu"] == 2
    assert endpoint.hits[f"/flaky/{key}-ap"] == 1
    loop = [e for e in done["steps"] if e["step_id"] == "each_region"]
    assert [e["status"] for e in loop] == ["failed", "retried", "completed"]
    outputs = loop[-1]["output"]["outputs"]
    assert loop[-1]["output"]["count"] == 3 and len(outputs) == 3
    assert [o["sync"]["body"]["attempt"] for o in outputs] == [1, 2, 1]
    syncs = [
        (e["within"]["iteration"], e["status"]) for e in done["steps"] if e["step_id"] == "sync"
    ]
    assert syncs == [(0, "completed"), (1, "failed"), (1, "completed"), (2, "completed")]
    assert done["steps"][-1]["output"]["body"]["json"] == {"count": 3}


async def test_a_retried_loop_whose_items_changed_runs_from_its_first_item(
    stack: Stack, endpoint: Endpoint
) -> None:
    """Iteration n must be the same item as before to be skipped: the items come from the
    contact, which changed before the retry, so the whole loop runs again."""
    org = f"org-{uuid.uuid4().hex[:8]}"
    admin = stack.caller("admin", org=org, user="ada")
    key = uuid.uuid4().hex[:8]
    endpoint.failures[f"{key}-b"] = 1_000
    definition = _syncing_loop(endpoint, key)
    (loop,) = [each for each in definition["steps"] if each["id"] == "each_region"]
    loop["config"]["items"] = "{{contact.fields.regions}}"
    definition_id = await activate(admin, definition)
    execution_id = await _start(
        admin, definition_id, contact={"first_name": "Ida", "fields": {"regions": ["a", "b"]}}
    )
    failed = await ended(admin, execution_id)
    assert failed["status"] == "failed" and "iteration 1 failed" in failed["error"]
    changed = await admin.patch(
        f"/api/v1/contacts/{failed['contact_id']}?wait=true",
        json={"fields": {"regions": ["c", "b"]}},
    )
    assert changed.status_code == 200, changed.text
    endpoint.failures[f"{key}-b"] = 0

    accepted = await admin.post(f"/api/v1/executions/{execution_id}/retry", json={})
    assert accepted.status_code == 202, accepted.text
    done = await _until(admin, execution_id, _ended_again)

    assert done["status"] == "completed", done["error"]
    assert endpoint.hits[f"/flaky/{key}-a"] == 1  # the first attempt's item 0, not run again
    assert endpoint.hits[f"/flaky/{key}-c"] == 1  # the retry's item 0
    assert endpoint.hits[f"/flaky/{key}-b"] == 2
    syncs = [
        (e["within"]["iteration"], e["status"]) for e in done["steps"] if e["step_id"] == "sync"
    ]
    assert syncs == [(0, "completed"), (1, "failed"), (0, "completed"), (1, "completed")]
    assert done["steps"][-1]["output"]["body"]["json"] == {"count": 2}
