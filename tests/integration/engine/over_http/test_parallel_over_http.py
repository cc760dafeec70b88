"""`parallel` as a client sees it: branches checked when the definition is posted (every
problem, named by its path), two reviewers' tasks open at once, the execution waiting on both,
and the timeline saying which branch each step ran in."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem
from tests.integration.engine.over_http.support import activate, body, ended, output, step


def _reviews(join: str = "all") -> dict[str, Any]:
    def branch(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "steps": [
                step(f"{name}_task", "assign_task", title=f"{name} review", assign_to="role:admin"),
                step(f"{name}_wait", "wait_for_task", task_from_step=f"{name}_task"),
            ],
        }

    return {
        "id": "reviews",
        "type": "parallel",
        "name": "Reviews",
        "config": {"join": join, "branches": [branch("legal"), branch("finance")]},
    }


async def _read(
    caller: Caller, execution_id: str, check: Any, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(f"/api/v1/executions/{execution_id}")
        if response.status_code == 200 and check(response.json()):
            execution: dict[str, Any] = response.json()
            return execution
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


def _entry(execution: dict[str, Any], step_id: str) -> dict[str, Any]:
    (found,) = [s for s in execution["steps"] if s["step_id"] == step_id]
    entry: dict[str, Any] = found
    return entry


def _both_wait(execution: dict[str, Any]) -> bool:
    steps = {s["step_id"]: s["status"] for s in execution["steps"]}
    return steps.get("legal_wait") == "waiting" and steps.get("finance_wait") == "waiting"


async def test_two_reviewers_work_at_once_and_the_timeline_names_their_branches(
    stack: Stack,
) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(
        caller,
        body(
            _reviews(),
            step("verdict", "transform", expressions={"legal": "legal_wait.task.status"}),
        ),
    )
    started = await caller.post(
        "/api/v1/executions",
        json={"definition_id": definition_id, "contact": {"first_name": "Ada"}},
    )
    assert started.status_code in (201, 202), started.text
    execution_id = started.json()["id"]

    waiting = await _read(caller, execution_id, _both_wait)
    assert waiting["status"] == "waiting"
    legal = output(waiting, "legal_task")["task"]["id"]
    finance = output(waiting, "finance_task")["task"]["id"]
    done = await caller.patch(f"/api/v1/tasks/{finance}?wait=true", json={"status": "done"})
    assert done.status_code == 200, done.text
    # One reviewer done, the other not: the execution still waits on the other branch.
    still = await _read(
        caller, execution_id, lambda e: _entry(e, "finance_wait")["status"] == "completed"
    )
    assert still["status"] == "waiting"
    done = await caller.patch(f"/api/v1/tasks/{legal}?wait=true", json={"status": "done"})
    assert done.status_code == 200, done.text
    execution = await ended(caller, execution_id)

    assert execution["status"] == "completed", execution["error"]
    assert _entry(execution, "legal_wait")["within"] == {"step_id": "reviews", "branch": "legal"}
    assert _entry(execution, "finance_task")["within"] == {
        "step_id": "reviews",
        "branch": "finance",
    }
    assert "within" not in _entry(execution, "reviews")
    assert output(execution, "verdict") == {"legal": "done"}
    assert output(execution, "reviews")["first"] == "finance"


async def test_join_any_cancels_the_slower_reviewer_task(stack: Stack) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(caller, body(_reviews("any")))
    started = await caller.post(
        "/api/v1/executions",
        json={"definition_id": definition_id, "contact": {"first_name": "Bo"}},
    )
    execution_id = started.json()["id"]
    waiting = await _read(caller, execution_id, _both_wait)
    legal = output(waiting, "legal_task")["task"]["id"]
    finance = output(waiting, "finance_task")["task"]["id"]

    done = await caller.patch(f"/api/v1/tasks/{legal}?wait=true", json={"status": "done"})
    assert done.status_code == 200, done.text
    execution = await ended(caller, execution_id)

    assert execution["status"] == "completed", execution["error"]
    assert _entry(execution, "finance_wait")["status"] == "cancelled"
    assert _entry(execution, "finance_wait")["error"] == "Branch 'legal' finished first."
    task = await caller.get(f"/api/v1/tasks/{finance}")
    assert task.json()["status"] == "cancelled"


async def test_every_problem_inside_the_branches_is_named_by_its_path(stack: Stack) -> None:
    caller = stack.caller("admin")
    bad = _reviews("most")
    legal, finance = bad["config"]["branches"]
    del legal["steps"][0]["config"]["title"]
    finance["steps"][1]["config"]["task_from_step"] = "legal_task"
    finance["steps"].append({**step("jump", "update_status", status="x"), "next": "after"})
    finance["steps"].append(step("legal_wait", "delay", seconds=1))

    refused = await caller.post(
        "/api/v1/definitions",
        json=body(bad, step("after", "transform", expressions={"a": "payload"})),
    )

    problem = assert_problem(refused, 422)
    found = {(e["field"], e["step_id"]) for e in problem["errors"]}
    assert found == {
        ("steps[1].config.join", "reviews"),
        ("steps[1].config.branches[0].steps[0].config.title", "legal_task"),
        ("steps[1].config.branches[1].steps[1].config.task_from_step", "finance_wait"),
        ("steps[1].config.branches[1].steps[2].next", "jump"),
        ("steps[1].config.branches[1].steps[3].id", "legal_wait"),
    }
