"""Workflow definitions through HTTP: create, publish versions, activate, refuse invalid ones."""

from __future__ import annotations

import copy
from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import assert_problem, error_fields

DEFINITION: dict[str, Any] = {
    "name": "Applicant Onboarding",
    "description": "Review each application",
    "statuses": [{"id": "approved", "label": "Approved", "color": "green"}],
    "steps": [
        {
            "id": "step_1",
            "type": "trigger",
            "name": "Form Submitted",
            "config": {
                "type": "form_submission",
                "contact": {"first_name": "{{payload.first_name}}"},
            },
        },
        {
            "id": "step_2",
            "type": "assign_task",
            "name": "Assign Review Task",
            "config": {
                "title": "Review {{contact.first_name}}",
                "assign_to": "role:admin",
                "priority": "medium",
                "due_date": "{{now + 3 days}}",
            },
        },
        {
            "id": "step_3",
            "type": "wait_for_task",
            "name": "Wait for Review",
            "config": {"task_from_step": "step_2", "timeout_days": 7},
        },
    ],
}


async def test_create_publish_and_activate_a_definition(stack: Stack) -> None:
    admin = stack.caller("admin")

    created = await admin.post("/api/v1/definitions", json=DEFINITION)
    assert created.status_code == 202, created.text
    accepted = created.json()
    assert accepted["version"] == 1
    assert accepted["workflow_id"] == f"definition-create-{accepted['id']}"
    definition_id = accepted["id"]

    second = copy.deepcopy(DEFINITION)
    second["name"] = "Applicant Onboarding v2"
    published = await admin.put(f"/api/v1/definitions/{definition_id}?wait=true", json=second)
    assert published.status_code == 200, published.text
    assert published.json()["current_version"] == 2
    assert published.json()["name"] == "Applicant Onboarding v2"

    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    assert activated.json()["is_active"] is True
    assert activated.json()["active_version"] == 2

    old = await admin.get(f"/api/v1/definitions/{definition_id}", params={"version": 1})
    assert old.status_code == 200
    assert old.json()["definition_version"] == 1
    assert old.json()["name"] == "Applicant Onboarding"
    assert [s["id"] for s in old.json()["steps"]] == ["step_1", "step_2", "step_3"]
    listed = (await admin.get("/api/v1/definitions", params={"is_active": True})).json()
    assert [d["id"] for d in listed["items"]] == [definition_id]
    missing_version = await admin.get(f"/api/v1/definitions/{definition_id}?version=9")
    assert_problem(missing_version, 404)

    deactivated = await admin.post(f"/api/v1/definitions/{definition_id}/deactivate?wait=true")
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["is_active"] is False


async def test_wait_true_creation_answers_201_with_the_body(stack: Stack) -> None:
    owner = stack.caller("owner")

    response = await owner.post("/api/v1/definitions?wait=true", json=DEFINITION)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["definition_version"] == 1
    assert body["statuses"] == DEFINITION["statuses"]
    assert response.headers["Location"] == f"/api/v1/definitions/{body['id']}"


async def test_an_invalid_definition_is_422_naming_every_problem(stack: Stack) -> None:
    admin = stack.caller("admin")
    bad = copy.deepcopy(DEFINITION)
    bad["steps"].append({"id": "step_4", "type": "teleport", "name": "?", "config": {}})
    bad["steps"][2]["config"]["task_from_step"] = "step_99"
    bad["colour"] = "red"

    response = await admin.post("/api/v1/definitions", json=bad)

    problem = assert_problem(response, 422)
    fields = error_fields(problem)
    assert "colour" in fields
    assert any(f.startswith("steps[3]") for f in fields), fields
    assert any(f.startswith("steps[2].config.task_from_step") for f in fields), fields
    step_ids = {e.get("step_id") for e in problem["errors"]}
    assert {"step_3", "step_4"} <= step_ids
    assert (await admin.get("/api/v1/definitions")).json()["items"] == []


async def test_publishing_an_invalid_version_is_422(stack: Stack) -> None:
    admin = stack.caller("admin")
    created = (await admin.post("/api/v1/definitions?wait=true", json=DEFINITION)).json()

    response = await admin.put(f"/api/v1/definitions/{created['id']}", json={"steps": []})

    problem = assert_problem(response, 422)
    assert "name" in error_fields(problem)


async def test_activating_another_orgs_definition_is_404(stack: Stack) -> None:
    admin = stack.caller("admin")
    created = (await admin.post("/api/v1/definitions?wait=true", json=DEFINITION)).json()
    stranger = stack.caller("admin")

    for path in ("activate", "deactivate"):
        response = await stranger.post(f"/api/v1/definitions/{created['id']}/{path}")
        assert_problem(response, 404)
    assert_problem(await stranger.put(f"/api/v1/definitions/{created['id']}", json=DEFINITION), 404)
