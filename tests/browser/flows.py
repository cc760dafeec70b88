"""Data the browser tests set up through the public API (as any client would), so that each
test starts from what a user would see: an active onboarding definition, an execution of it
waiting for a reviewer's task."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

SETTLE_SECONDS = 20.0


def onboarding_definition(assign_to: str = "role:member") -> dict[str, Any]:
    """The README's applicant onboarding, reviewed by `assign_to`."""
    return {
        "name": "Applicant Onboarding",
        "statuses": [
            {"id": "approved", "label": "Approved", "color": "green"},
            {"id": "rejected", "label": "Rejected", "color": "red"},
        ],
        "steps": [
            {
                "id": "step_1",
                "type": "trigger",
                "name": "Form Submitted",
                "config": {
                    "type": "form_submission",
                    "contact": {
                        "first_name": "{{payload.first_name}}",
                        "email": "{{payload.email}}",
                    },
                },
            },
            {
                "id": "step_2",
                "type": "assign_task",
                "name": "Review",
                "config": {
                    "title": "Review {{contact.first_name}}'s Application",
                    "assign_to": assign_to,
                    "due_date": "{{now + 3 days}}",
                },
            },
            {
                "id": "step_3",
                "type": "wait_for_task",
                "name": "Wait for Review",
                "config": {"task_from_step": "step_2", "timeout_days": 7},
            },
            {
                "id": "step_4",
                "type": "condition",
                "name": "Outcome",
                "config": {
                    "field": "{{step_3.task.metadata.outcome}}",
                    "branches": [{"if": "approved", "then_goto": "step_5"}],
                    "default": "step_6",
                },
            },
            {
                "id": "step_5",
                "type": "update_status",
                "name": "Approved",
                "next": "end",
                "config": {"status": "approved"},
            },
            {
                "id": "step_6",
                "type": "update_status",
                "name": "Rejected",
                "config": {"status": "rejected"},
            },
        ],
    }


@dataclass(frozen=True)
class Onboarding:
    definition_id: str
    execution_id: str
    task: dict[str, Any]


def _ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.request.method} {answer.request.url}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def active_definition(admin: httpx.Client, body: dict[str, Any]) -> str:
    """Create and activate a definition; its id."""
    definition = _ok(admin.post("/definitions", params={"wait": "true"}, json=body))
    _ok(admin.post(f"/definitions/{definition['id']}/activate", params={"wait": "true"}))
    return str(definition["id"])


def start_onboarding(
    admin: httpx.Client, first_name: str, definition_id: str | None = None
) -> Onboarding:
    """An execution of the onboarding, once its review task is visible."""
    if definition_id is None:
        definition_id = active_definition(admin, onboarding_definition())
    execution = _ok(
        admin.post(
            "/executions",
            params={"wait": "true"},
            json={
                "definition_id": definition_id,
                "contact": {"first_name": first_name, "email": f"{first_name.lower()}@example.com"},
            },
        )
    )
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        tasks = _ok(admin.get("/tasks", params={"execution_id": execution["id"]}))["items"]
        if tasks:
            return Onboarding(definition_id, str(execution["id"]), tasks[0])
        time.sleep(0.2)
    raise AssertionError(f"execution {execution['id']} created no task in {SETTLE_SECONDS} s")


def wait_until(check: Any, timeout: float = SETTLE_SECONDS) -> Any:
    """`check()`'s first truthy value, trying every 0.2 s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)
