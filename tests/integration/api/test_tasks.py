"""Tasks through HTTP: assign, update, status rules, and the caller's own task list."""

from __future__ import annotations

from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, events_of


async def create_task(caller: Caller, **fields: Any) -> dict[str, Any]:
    body = {"title": "Review application", "assigned_to": "role:admin", **fields}
    response = await caller.post("/api/v1/tasks?wait=true", json=body)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def test_a_task_created_with_wait_has_every_field(stack: Stack) -> None:
    caller = stack.caller("member")

    task = await create_task(
        caller,
        description="Check the documents",
        priority="high",
        due_date="2030-01-02T09:00:00+02:00",
        metadata={"source": "api"},
        status="in_progress",
    )

    assert task["title"] == "Review application"
    assert task["assigned_to"] == "role:admin"
    assert task["priority"] == "high"
    assert task["status"] == "in_progress"
    assert task["due_date"].startswith("2030-01-02T07:00:00")
    assert task["metadata"] == {"source": "api"}
    assert (await caller.get(f"/api/v1/tasks/{task['id']}")).json() == task


async def test_a_task_created_without_wait_answers_202(stack: Stack) -> None:
    caller = stack.caller("member")

    response = await caller.post(
        "/api/v1/tasks", json={"title": "Call back", "assigned_to": "user:u1"}
    )

    assert response.status_code == 202, response.text
    assert response.json()["workflow_id"] == f"task-create-{response.json()['id']}"
    (event,) = events_of(stack.database_url, response.json()["id"])
    assert event["workflow_type"] == "TaskCommandWorkflow"


async def test_patch_changes_status_and_fields(stack: Stack) -> None:
    caller = stack.caller("member")
    task = await create_task(caller)

    response = await caller.patch(
        f"/api/v1/tasks/{task['id']}?wait=true",
        json={"status": "done", "metadata": {"outcome": "approved"}, "priority": "urgent"},
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["status"] == "done"
    assert updated["priority"] == "urgent"
    assert updated["metadata"]["outcome"] == "approved"
    assert updated["completed_at"] is not None


async def test_a_patch_of_one_thing_records_just_that_change(stack: Stack) -> None:
    """A PATCH of only the assignee, only the due date or only the status runs the command of
    that intent, and the task's history says exactly what happened."""
    caller = stack.caller("member")
    task = await create_task(caller, due_date="2030-01-02T09:00:00+00:00")
    path = f"/api/v1/tasks/{task['id']}?wait=true"

    reassigned = await caller.patch(path, json={"assigned_to": "user:u2"})
    cleared = await caller.patch(path, json={"due_date": None})
    started = await caller.patch(path, json={"status": "in_progress"})

    for response in (reassigned, cleared, started):
        assert response.status_code == 200, response.text
    assert reassigned.json()["assigned_to"] == "user:u2"
    assert cleared.json()["due_date"] is None
    assert started.json()["status"] == "in_progress"
    assert [e["event_type"] for e in events_of(stack.database_url, task["id"])] == [
        "Task.Assigned",
        "Task.Reassigned",
        "Task.DueDateSet",
        "Task.StatusChanged",
    ]


async def test_completing_a_cancelled_task_is_refused_with_409(stack: Stack) -> None:
    caller = stack.caller("member")
    task = await create_task(caller, status="cancelled")

    response = await caller.patch(f"/api/v1/tasks/{task['id']}", json={"status": "done"})

    problem = assert_problem(response, 409)
    assert "cancelled" in problem["detail"]
    assert problem["workflow_id"].startswith(f"task-update-{task['id']}-")
    still = (await caller.get(f"/api/v1/tasks/{task['id']}")).json()
    assert still["status"] == "cancelled"


async def test_null_is_refused_for_fields_that_cannot_be_cleared(stack: Stack) -> None:
    caller = stack.caller("member")
    task = await create_task(caller)

    response = await caller.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": None, "status": None}
    )

    problem = assert_problem(response, 422)
    assert {e["field"] for e in problem["errors"]} == {"title", "status"}


async def test_my_tasks_are_those_assigned_to_me_or_my_role(stack: Stack) -> None:
    admin = stack.caller("admin", user="alice")
    member = admin.as_role("member", user="bob")
    mine = await create_task(member, title="for alice", assigned_to="user:alice")
    for_admins = await create_task(member, title="for admins", assigned_to="role:admin")
    await create_task(member, title="for bob", assigned_to="user:bob")
    await create_task(member, title="for members", assigned_to="role:member")

    page = (await admin.get("/api/v1/me/tasks")).json()

    assert {t["id"] for t in page["items"]} == {mine["id"], for_admins["id"]}
    bobs = (await member.get("/api/v1/me/tasks")).json()
    assert {t["title"] for t in bobs["items"]} == {"for bob", "for members"}


async def test_tasks_filter_by_status_and_assignee(stack: Stack) -> None:
    caller = stack.caller("member")
    done = await create_task(caller, title="a", status="done", assigned_to="user:x")
    await create_task(caller, title="b", assigned_to="user:x")
    await create_task(caller, title="c", assigned_to="user:y")

    by_status = (await caller.get("/api/v1/tasks", params={"status": "done"})).json()
    by_assignee = (await caller.get("/api/v1/tasks", params={"assigned_to": "user:x"})).json()

    assert [t["id"] for t in by_status["items"]] == [done["id"]]
    assert {t["title"] for t in by_assignee["items"]} == {"a", "b"}
