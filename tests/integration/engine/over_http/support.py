"""Driving a definition over HTTP: publish and activate it, start it, wait for its end."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.integration.api.support import Caller

TRIGGER: dict[str, Any] = {
    "id": "start",
    "type": "trigger",
    "name": "Start",
    "config": {"type": "manual"},
}
TERMINAL = ("completed", "failed", "cancelled", "timed_out", "compensated", "compensation_failed")


def body(*steps: dict[str, Any], trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    first = TRIGGER if trigger is None else {**TRIGGER, "config": trigger}
    return {"name": "Steps over HTTP", "steps": [first, *steps]}


def step(step_id: str, step_type: str, **config: Any) -> dict[str, Any]:
    return {"id": step_id, "type": step_type, "name": step_id.title(), "config": config}


async def activate(caller: Caller, definition: dict[str, Any]) -> str:
    created = await caller.post("/api/v1/definitions?wait=true", json=definition)
    assert created.status_code == 201, created.text
    definition_id: str = created.json()["id"]
    activated = await caller.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    return definition_id


async def run(caller: Caller, definition_id: str, **start: Any) -> dict[str, Any]:
    """Start an execution of the definition and answer it as the read model shows it ended."""
    started = await caller.post(
        "/api/v1/executions", json={"definition_id": definition_id, **start}
    )
    assert started.status_code in (201, 202), started.text
    return await ended(caller, started.json()["id"])


async def ended(caller: Caller, execution_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(f"/api/v1/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] in TERMINAL:
            execution: dict[str, Any] = response.json()
            return execution
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


def timeline(execution: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step_id"], s["status"]) for s in execution["steps"]]


def output(execution: dict[str, Any], step_id: str) -> dict[str, Any]:
    (found,) = [s for s in execution["steps"] if s["step_id"] == step_id]
    result: dict[str, Any] = found["output"]
    return result
