"""``POST /api/v1/definitions/dry-run``: the real interpreter on Temporal's time-skipping test
server, with scripted tasks, signals and HTTP answers, recording and sending nothing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import psycopg

from tests.integration.api.conftest import Stack
from tests.integration.api.support import assert_problem, error_fields

PATH = "/api/v1/definitions/dry-run"

REVIEW: dict[str, Any] = {
    "name": "Applicant review",
    "statuses": [
        {"id": "approved", "label": "Approved"},
        {"id": "rejected", "label": "Rejected"},
    ],
    "steps": [
        {
            "id": "start",
            "type": "trigger",
            "name": "Form",
            "config": {
                "type": "form_submission",
                "contact": {"first_name": "{{payload.first_name}}", "email": "{{payload.email}}"},
            },
        },
        {
            "id": "assign",
            "type": "assign_task",
            "name": "Assign review",
            "config": {"title": "Review {{contact.first_name}}", "assign_to": "role:admin"},
        },
        {
            "id": "review",
            "type": "wait_for_task",
            "name": "Wait for the review",
            "config": {
                "task_from_step": "assign",
                "timeout_days": 7,
                "on_timeout": "send_reminder",
                "max_reminders": 2,
            },
        },
        {
            "id": "check",
            "type": "condition",
            "name": "Outcome",
            "config": {
                "field": "{{review.task.metadata.outcome}}",
                "branches": [{"if": "approved", "then_goto": "approve"}],
                "default": "reject",
            },
        },
        {
            "id": "approve",
            "type": "update_status",
            "name": "Approve",
            "config": {"status": "approved"},
        },
        {
            "id": "welcome",
            "type": "send_email",
            "name": "Welcome",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Welcome, {{contact.first_name}}!",
                "body": "Approved.",
            },
            "next": "end",
        },
        {
            "id": "reject",
            "type": "update_status",
            "name": "Reject",
            "config": {"status": "rejected"},
        },
    ],
}
PAYLOAD = {"first_name": "Ada", "email": "ada@example.com"}


def _count_events(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_review_approved_two_days_later_takes_the_approval_branch_and_would_email(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    before = _count_events(stack.database_url)

    began = time.monotonic()
    response = await admin.post(
        PATH,
        json={
            "definition": REVIEW,
            "payload": PAYLOAD,
            "tasks": {"review": {"metadata": {"outcome": "approved"}, "after": "P2D"}},
        },
    )

    assert response.status_code == 200, response.text
    assert time.monotonic() - began < 30  # two simulated days, no real wait
    run = response.json()
    assert (run["outcome"], run["status"], run["ui_status"]) == ("ended", "completed", "approved")
    assert [s["step_id"] for s in run["steps"]] == [
        "start",
        "assign",
        "review",
        "check",
        "approve",
        "welcome",
    ]
    assert run["branches"] == [
        {"step_id": "check", "value": "approved", "branch": "approve", "matched": 0}
    ]
    (email,) = run["emails"]
    assert (email["to"], email["subject"]) == (["ada@example.com"], "Welcome, Ada!")
    (task,) = run["tasks"]
    assert (task["step_id"], task["title"], task["assigned_to"]) == (
        "assign",
        "Review Ada",
        "role:admin",
    )
    steps = {s["step_id"]: s for s in run["steps"]}
    waited = _at(steps["review"]["completed_at"]) - _at(steps["review"]["started_at"])
    assert timedelta(days=2) <= waited < timedelta(days=2, minutes=1)
    assert _at(run["ended_at"]) - _at(run["started_at"]) >= timedelta(days=2)
    # Nothing was written to the event store, and so no read model shows the task.
    assert _count_events(stack.database_url) == before
    assert (await admin.get("/api/v1/tasks")).json()["items"] == []


async def test_an_unanswered_review_is_reminded_then_times_out_in_simulated_weeks(
    stack: Stack,
) -> None:
    run = (
        await stack.caller("admin").post(PATH, json={"definition": REVIEW, "payload": PAYLOAD})
    ).json()

    assert (run["outcome"], run["status"]) == ("ended", "timed_out")
    assert [r["count"] for r in run["reminders"]] == [1, 2]
    assert _at(run["ended_at"]) - _at(run["started_at"]) >= timedelta(days=21)
    assert run["emails"] == []


async def test_a_wait_nothing_can_end_is_reported_as_waiting_forever(stack: Stack) -> None:
    definition = {
        "name": "Forever",
        "steps": [
            {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
            {"id": "go", "type": "wait_for_signal", "name": "Go", "config": {"signal": "go"}},
        ],
    }
    admin = stack.caller("admin")

    stuck = (await admin.post(PATH, json={"definition": definition})).json()
    assert (stuck["outcome"], stuck["status"], stuck["stopped_at_step"]) == (
        "waits_forever",
        "stopped",
        "go",
    )
    assert "wait forever" in stuck["reason"]

    signalled = (
        await admin.post(
            PATH,
            json={
                "definition": definition,
                "signals": {"go": {"payload": {"ok": True}, "after": "PT5H"}},
            },
        )
    ).json()
    assert (signalled["outcome"], signalled["status"]) == ("ended", "completed")
    go = next(s for s in signalled["steps"] if s["step_id"] == "go")
    assert go["output"]["payload"] == {"ok": True}
    assert _at(go["completed_at"]) - _at(go["started_at"]) >= timedelta(hours=5)


async def test_definitions_that_loop_are_reported_as_looping(stack: Stack) -> None:
    admin = stack.caller("admin")
    waits_again = {
        "name": "Again and again",
        "steps": [
            {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
            {
                "id": "go",
                "type": "wait_for_signal",
                "name": "Go",
                "config": {"signal": "go"},
                "next": "go",
            },
        ],
    }
    run = (
        await admin.post(
            PATH, json={"definition": waits_again, "signals": {"go": {}}, "max_steps": 10}
        )
    ).json()
    assert (run["outcome"], run["stopped_at_step"]) == ("loops", "go")
    assert "more than 10 steps" in run["reason"]

    spins = {
        "name": "Spins",
        "steps": [
            {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
            {
                "id": "c",
                "type": "condition",
                "name": "C",
                "config": {"field": "x", "branches": [{"if": "x", "then_goto": "c"}]},
            },
        ],
    }
    run = (await admin.post(PATH, json={"definition": spins})).json()
    # A cycle that never waits would spin the interpreter for good: it is found, not run.
    assert (run["outcome"], run["status"], run["stopped_at_step"]) == ("loops", "not_run", "c")
    assert "c -> c" in run["reason"] and run["steps"] == []


async def test_outbound_calls_are_answered_by_the_script_never_sent(stack: Stack) -> None:
    definition = {
        "name": "CRM",
        "statuses": [{"id": "synced", "label": "Synced"}],
        "steps": [
            {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
            {
                "id": "post",
                "type": "http_request",
                "name": "Post lead",
                "config": {
                    "method": "POST",
                    "url": "https://crm.invalid/leads",
                    "body": {"email": "{{payload.email}}"},
                    "retries": 0,
                },
            },
            {
                "id": "mark",
                "type": "update_status",
                "name": "Mark",
                "config": {"status": "{{post.body.state}}"},
            },
        ],
    }
    run = (
        await stack.caller("admin").post(
            PATH,
            json={
                "definition": definition,
                "payload": PAYLOAD,
                "http": {
                    "POST https://crm.invalid/leads": {
                        "status_code": 201,
                        "body": {"state": "synced"},
                    }
                },
            },
        )
    ).json()

    assert (run["status"], run["ui_status"]) == ("completed", "synced")
    (call,) = run["http_requests"]
    assert (call["method"], call["url"], call["status_code"]) == (
        "POST",
        "https://crm.invalid/leads",
        201,
    )


async def test_a_stored_version_runs_by_its_id(stack: Stack) -> None:
    admin = stack.caller("admin")
    created = await admin.post("/api/v1/definitions?wait=true", json=REVIEW)
    assert created.status_code == 201, created.text
    definition_id = created.json()["id"]

    run = (
        await admin.post(
            PATH,
            json={
                "definition_id": definition_id,
                "version": 1,
                "payload": PAYLOAD,
                "tasks": {"assign": {"status": "done", "metadata": {"outcome": "no"}}},
            },
        )
    ).json()
    assert (run["definition_version"], run["ui_status"]) == (1, "rejected")
    assert run["branches"][0]["branch"] == "reject"


async def test_dry_runs_are_refused_clearly(stack: Stack) -> None:
    admin = stack.caller("admin")
    for role in ("viewer", "member"):
        assert_problem(await admin.as_role(role).post(PATH, json={"definition": REVIEW}), 403)

    broken = {
        **REVIEW,
        "steps": [*REVIEW["steps"][:2], {"id": "x", "type": "teleport", "name": "X", "config": {}}],
    }
    problem = assert_problem(await admin.post(PATH, json={"definition": broken}), 422)
    assert any(f.startswith("definition.steps[2]") for f in error_fields(problem)), problem

    for body in (
        {},
        {"definition": REVIEW, "definition_id": "x"},
        {"definition": REVIEW, "version": 2},
        {"definition": REVIEW, "tasks": {"review": {"after": "-P1D"}}},
        {"definition": REVIEW, "tasks": {"review": {"status": "maybe"}}},
        {"definition": REVIEW, "max_steps": 0},
        {"definition": REVIEW, "surprise": 1},
    ):
        assert_problem(await admin.post(PATH, json=body), 422)

    assert_problem(await admin.post(PATH, json={"definition_id": "not-a-definition"}), 404)
    created = await admin.post("/api/v1/definitions?wait=true", json=REVIEW)
    definition_id = created.json()["id"]
    assert_problem(await admin.post(PATH, json={"definition_id": definition_id, "version": 5}), 404)
    stranger = stack.caller("admin")
    assert_problem(await stranger.post(PATH, json={"definition_id": definition_id}), 404)
