"""The `contract_review` template end to end: instantiated over HTTP, legal's and finance's
tasks open at once (a parallel step), approved when both approve, rejected otherwise."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller
from tests.integration.engine.over_http.support import ended, output


async def _instantiate(admin: Caller) -> str:
    made = await admin.post(
        "/api/v1/templates/contract_review/instantiate?wait=true",
        json={"configuration": {"notification_email": "contracts@example.com", "review_days": 2}},
    )
    assert made.status_code == 201, made.text
    definition_id: str = made.json()["id"]
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    return definition_id


async def _both_tasks(admin: Caller, execution_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = await admin.get(f"/api/v1/executions/{execution_id}")
        steps = {s["step_id"]: s for s in response.json().get("steps") or []}
        if all(
            steps.get(f"{team}_wait", {}).get("status") == "waiting"
            for team in ("legal", "finance")
        ):
            execution: dict[str, Any] = response.json()
            return execution
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


async def _review(admin: Caller, approvals: dict[str, bool]) -> dict[str, Any]:
    definition_id = await _instantiate(admin)
    started = await admin.post(
        "/api/v1/executions",
        json={
            "definition_id": definition_id,
            "contact": {"first_name": "Ada", "last_name": "Byron"},
        },
    )
    assert started.status_code in (201, 202), started.text
    execution_id = started.json()["id"]
    waiting = await _both_tasks(admin, execution_id)
    assert waiting["status"] == "waiting"
    assert waiting["ui_status"] == "in_review"
    for team, approved in approvals.items():
        task = output(waiting, f"{team}_task")["task"]
        assert task["assigned_to"] == f"role:{team}"
        assert task["title"] == f"{team.title()} review of the contract with Ada Byron"
        done = await admin.patch(
            f"/api/v1/tasks/{task['id']}?wait=true",
            json={"status": "done", "metadata": {"approved": approved}},
        )
        assert done.status_code == 200, done.text
    return await ended(admin, execution_id)


async def test_a_contract_both_teams_approve_is_approved(stack: Stack) -> None:
    execution = await _review(stack.caller("admin"), {"legal": True, "finance": True})

    assert execution["status"] == "completed", execution["error"]
    assert execution["ui_status"] == "approved"
    assert output(execution, "verdict") == {"approved": True, "legal": True, "finance": True}
    assert output(execution, "tell_approved")["subject"] == "Contract with Ada Byron approved"
    within = {s["step_id"]: s.get("within") for s in execution["steps"]}
    assert within["legal_wait"] == {"step_id": "reviews", "branch": "legal"}
    assert within["finance_task"] == {"step_id": "reviews", "branch": "finance"}


async def test_a_contract_one_team_rejects_is_rejected(stack: Stack) -> None:
    execution = await _review(stack.caller("admin"), {"finance": False, "legal": True})

    assert execution["status"] == "completed", execution["error"]
    assert execution["ui_status"] == "rejected"
    assert output(execution, "tell_rejected")["subject"] == "Contract with Ada Byron rejected"
    assert "tell_approved" not in {s["step_id"] for s in execution["steps"]}
