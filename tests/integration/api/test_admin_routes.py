"""Admins over HTTP: projection status, and a rebuild on a live system."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest_asyncio

from interfaces.admin_requests import AdminRequestFollower
from projections import Projector
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, new_org


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin_requests(stack: Stack) -> AsyncIterator[None]:
    stop = threading.Event()
    follower = AdminRequestFollower(stack.database_url)

    def run() -> None:
        with Projector(stack.database_url, [follower], poll_interval=0.2) as projector:
            projector.run_forever(stop)

    thread = threading.Thread(target=run, name="admin-requests", daemon=True)
    thread.start()
    yield
    stop.set()
    await asyncio.to_thread(thread.join, 10)
    follower.close()


async def test_status_lists_every_projection_with_its_lag(stack: Stack) -> None:
    admin = stack.caller("admin")
    listed = await admin.get("/api/v1/admin/projections")
    assert listed.status_code == 200, listed.text
    names = {p["name"] for p in listed.json()["items"]}
    assert {"contacts", "tasks", "executions", "definitions"} <= names
    for item in listed.json()["items"]:
        for key in ("position", "head", "lag_events", "lag_seconds", "status", "last_error"):
            assert key in item
        assert item["rebuildable"] == (item["name"] not in {"triggers", "admin_requests", "chain"})
    assert_problem(await admin.as_role("member").get("/api/v1/admin/projections"), 403)
    assert_problem(await admin.get("/api/v1/admin/projections/nope"), 404)


async def test_a_rebuild_requested_over_http_runs_while_reads_keep_working(
    stack: Stack, admin_requests: None
) -> None:
    admin = Caller(stack.client, new_org(), "admin", "u1", operator=True)  # rebuilds: operators
    for n in range(5):
        made = await admin.post("/api/v1/contacts?wait=true", json={"first_name": f"R{n}"})
        assert made.status_code == 201, made.text

    requested = await admin.post("/api/v1/admin/projections/contacts/rebuild")
    assert requested.status_code == 202, requested.text
    action_id = requested.json()["id"]

    deadline = time.monotonic() + 60
    while True:
        listed = await admin.get("/api/v1/contacts?limit=200")
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["items"]) == 5  # never empty or partial
        status: dict[str, Any] = (await admin.get("/api/v1/admin/projections/contacts")).json()
        rebuild = status.get("rebuild") or {}
        if rebuild.get("phase") == "done":
            break
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)
    assert rebuild["requested_by"] == "user:u1"

    history = await admin.get(f"/api/v1/aggregates/admin_action/{action_id}/history")
    assert history.status_code == 200, history.text
    (recorded,) = history.json()["items"]
    assert recorded["data"]["action"] == "rebuild"
    assert recorded["data"]["parameters"] == {"executor": "projector"}
    assert recorded["metadata"]["actor"] == "user:u1"
    assert_problem(await admin.post("/api/v1/admin/projections/nope/rebuild"), 404)
    assert_problem(
        await admin.as_role("viewer").post("/api/v1/admin/projections/tasks/rebuild"), 403
    )


def test_only_rebuilds_requested_for_the_projector_are_carried_out() -> None:
    """The CLI records its rebuild and runs it itself; the projector must not run it too."""
    from interfaces.admin_requests import wants_projector

    assert wants_projector({"action": "rebuild", "parameters": {"executor": "projector"}})
    assert wants_projector({"action": "skip_parked", "parameters": {"executor": "projector"}})
    assert not wants_projector({"action": "rebuild", "parameters": {"from_scratch": False}})
    assert not wants_projector({"action": "verify", "parameters": {"executor": "projector"}})


def park(database_url: str, projection: str, event: dict[str, Any], error: str) -> None:
    """Record `event` as parked by `projection`, as the projector does after its last attempt
    (a handler bug cannot be produced on demand in the live stack's projections)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projection_parked_events (projection, position, event_id, event_type,"
            " originator_id, originator_version, error, attempts)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 3)",
            (
                projection,
                event["position"],
                event["event_id"],
                event["event_type"],
                event["aggregate_id"],
                event["aggregate_version"],
                error,
            ),
        )


async def parked_status(admin: Caller, position: int, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        listed = await admin.get("/api/v1/admin/projections/contacts/parked?status=all")
        assert listed.status_code == 200, listed.text
        (item,) = [i for i in listed.json()["items"] if i["position"] == position]
        if item["status"] == wanted:
            return dict(item)
        assert time.monotonic() < deadline, item
        await asyncio.sleep(0.1)


async def test_parked_events_are_listed_retried_and_skipped_over_http(
    stack: Stack, admin_requests: None
) -> None:
    admin = Caller(stack.client, new_org(), "admin", "u1", operator=True)
    made = []
    for name in ("Ada", "Grace"):
        contact = await admin.post("/api/v1/contacts?wait=true", json={"first_name": name})
        assert contact.status_code == 201, contact.text
        events = await admin.get(f"/api/v1/events?aggregate_id={contact.json()['id']}")
        made.append(events.json()["items"][0])
    first, second = made
    park(stack.database_url, "contacts", first, "KeyError: 'first_name'")
    park(stack.database_url, "contacts", second, "ValueError: bad status")

    listed = await admin.get("/api/v1/admin/projections/contacts/parked?limit=1")
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert [i["position"] for i in page["items"]] == [first["position"]]
    assert page["items"][0]["error"] == "KeyError: 'first_name'"
    assert page["items"][0]["attempts"] == 3
    rest = await admin.get(
        f"/api/v1/admin/projections/contacts/parked?limit=1&cursor={page['next_cursor']}"
    )
    assert [i["position"] for i in rest.json()["items"]] == [second["position"]]
    assert rest.json()["next_cursor"] is None
    status = (await admin.get("/api/v1/admin/projections/contacts")).json()
    assert status["parked_events"] == 2 and status["status"] == "parked"

    retried = await admin.post(
        f"/api/v1/admin/projections/contacts/parked/{first['position']}/retry"
    )
    assert retried.status_code == 202, retried.text
    item = await parked_status(admin, first["position"], "retried")
    assert item["resolved_by"] == "user:u1"

    blank = await admin.post(
        f"/api/v1/admin/projections/contacts/parked/{second['position']}/skip", json={"reason": " "}
    )
    assert_problem(blank, 422)
    skipped = await admin.post(
        f"/api/v1/admin/projections/contacts/parked/{second['position']}/skip",
        json={"reason": "written by a bug fixed since"},
    )
    assert skipped.status_code == 202, skipped.text
    item = await parked_status(admin, second["position"], "skipped")
    assert item["resolution"] == "written by a bug fixed since"
    assert (await admin.get("/api/v1/admin/projections/contacts")).json()["parked_events"] == 0

    history = await admin.get(f"/api/v1/aggregates/admin_action/{skipped.json()['id']}/history")
    (recorded,) = history.json()["items"]
    assert recorded["data"]["action"] == "skip_parked"
    assert recorded["data"]["parameters"]["position"] == second["position"]

    again = await admin.post(
        f"/api/v1/admin/projections/contacts/parked/{second['position']}/retry"
    )
    assert_problem(again, 409)
    assert_problem(
        await admin.post("/api/v1/admin/projections/contacts/parked/999999999/retry"), 404
    )
    assert_problem(await admin.post("/api/v1/admin/projections/nope/parked/1/retry"), 404)
    assert_problem(await admin.get("/api/v1/admin/projections/contacts/parked?cursor=abc"), 422)
    org_admin = stack.caller("admin")
    assert_problem(await org_admin.get("/api/v1/admin/projections/contacts/parked"), 403)
    assert_problem(
        await org_admin.post(
            f"/api/v1/admin/projections/contacts/parked/{first['position']}/retry"
        ),
        403,
    )
