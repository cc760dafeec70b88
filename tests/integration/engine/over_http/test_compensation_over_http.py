"""Saga compensation as a client sees it: `compensate` checked when the definition is posted,
the undo steps in the execution's timeline, and the new statuses in GET /executions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, error_fields
from tests.integration.engine.over_http.support import activate, body, step
from tests.integration.engine.servers import Endpoint, http_endpoint


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with http_endpoint() as server:
        yield server


async def _ended(caller: Caller, execution_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(f"/api/v1/executions/{execution_id}")
        status = response.json().get("status") if response.status_code == 200 else None
        if status in ("compensated", "compensation_failed", "completed", "failed"):
            execution: dict[str, Any] = response.json()
            return execution
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


def _post(step_id: str, url: str, **config: Any) -> dict[str, Any]:
    return step(step_id, "http_request", method="POST", url=url, **config)


async def test_compensate_is_checked_when_the_definition_is_posted_every_problem_at_once(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    reserve = _post("reserve", "https://example.com/reserve")
    reserve["compensate"] = [
        {"type": "http_request", "config": {"method": "POST", "url": "ftp://example.com/x"}},
        {"type": "wait_for_signal", "config": {"signal": "undo"}},
        {"id": "reserve", "type": "update_status", "config": {"status": "x"}, "when": "later"},
    ]
    start = step("start", "trigger", type="manual")
    start["compensate"] = {"type": "update_status", "config": {"status": "x"}}

    response = await admin.post(
        "/api/v1/definitions", json={"name": "Bad undo", "steps": [start, reserve]}
    )

    problem = assert_problem(response, 422)
    assert {
        "steps[0].compensate",
        "steps[1].compensate[0].config.url",
        "steps[1].compensate[1].type",
        "steps[1].compensate[2].id",
        "steps[1].compensate[2].when",
    } <= error_fields(problem)
    named = {item["field"]: item["step_id"] for item in problem["errors"]}
    assert named["steps[1].compensate[0].config.url"] == "reserve"


async def test_the_timeline_shows_the_undo_steps_and_the_list_filters_by_the_new_statuses(
    stack: Stack, endpoint: Endpoint
) -> None:
    admin = stack.caller("admin")
    key = uuid.uuid4().hex[:8]
    reserve = _post("reserve", f"{endpoint.url}/ok/{key}/reserve", body={"seat": 7})
    reserve["compensate"] = {
        "type": "http_request",
        "name": "Release the seat",
        "config": {
            "method": "POST",
            "url": f"{endpoint.url}/ok/{key}/release",
            "body": {"seat": "{{reserve.body.json.seat}}"},
        },
    }
    definition_id = await activate(
        admin, body(reserve, _post("charge", f"{endpoint.url}/status/402"))
    )

    started = await admin.post("/api/v1/executions", json={"definition_id": definition_id})
    assert started.status_code in (201, 202), started.text
    execution = await _ended(admin, started.json()["id"])

    assert execution["status"] == "compensated"
    assert "402" in execution["error"]
    steps = [
        (s["step_id"], s["status"], s.get("compensation_of"), s["name"]) for s in execution["steps"]
    ]
    assert steps == [
        ("start", "completed", None, "Start"),
        ("reserve", "completed", None, "Reserve"),
        ("charge", "failed", None, "Charge"),
        ("reserve-undo", "completed", "reserve", "Release the seat"),
    ]
    (undo,) = [s for s in execution["steps"] if s["step_id"] == "reserve-undo"]
    assert undo["output"]["body"]["json"] == {"seat": 7}
    assert [r["status_code"] for r in undo["http_requests"]] == [200]
    assert endpoint.hits[f"/ok/{key}/release"] == 1

    listed = await admin.get(
        "/api/v1/executions", params={"status": "compensated", "definition_id": definition_id}
    )
    assert [item["id"] for item in listed.json()["items"]] == [execution["id"]]
    other = await admin.get(
        "/api/v1/executions",
        params={"status": "compensation_failed", "definition_id": definition_id},
    )
    assert other.json()["items"] == []
