"""Record triggers: contact events start executions, once per matching event."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from interfaces.triggers import TemporalStarter, TriggerFollower
from projections import Projector
from projections.tables import create_copies
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller


def _definition(name: str, trigger: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "statuses": [{"id": "seen", "label": "Seen"}],
        "steps": [
            {"id": "t", "type": "trigger", "name": "On contact", "config": trigger},
            {"id": "s", "type": "update_status", "name": "Seen", "config": {"status": "seen"}},
            *extra,
        ],
    }


@pytest.fixture(scope="module")
def follower_address(temporal_env: WorkflowEnvironment) -> str:
    return str(temporal_env.client.service_client.config.target_host)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def triggers(stack: Stack, follower_address: str) -> AsyncIterator[None]:
    stop = threading.Event()
    starter = TemporalStarter(follower_address, "default", stack.task_queue)

    def run() -> None:
        with Projector(stack.database_url, [TriggerFollower(starter)], poll_interval=0.2) as p:
            p.run_forever(stop)

    thread = threading.Thread(target=run, name="triggers", daemon=True)
    thread.start()
    yield
    stop.set()
    await asyncio.to_thread(thread.join, 10)
    starter.close()


async def _activate(admin: Caller, body: dict[str, Any]) -> str:
    created = await admin.post("/api/v1/definitions?wait=true", json=body)
    assert created.status_code == 201, created.text
    definition_id: str = created.json()["id"]
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    return definition_id


async def _executions(caller: Caller, definition_id: str) -> list[dict[str, Any]]:
    page = await caller.get(f"/api/v1/executions?definition_id={definition_id}")
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def _settled(caller: Caller, definition_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until `count` executions exist and are finished, then a little longer for extras."""
    deadline = time.monotonic() + 20
    while True:
        items = await _executions(caller, definition_id)
        if len(items) >= count and all(i["status"] == "completed" for i in items):
            await asyncio.sleep(1.0)
            return await _executions(caller, definition_id)
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.2)


async def test_contact_events_start_the_definitions_that_watch_them(
    stack: Stack, triggers: None
) -> None:
    admin = stack.caller("admin")
    on_create = await _activate(admin, _definition("new", {"type": "record_created"}))
    on_email = await _activate(
        admin, _definition("email", {"type": "field_changed", "field": "email"})
    )
    on_phone = await _activate(
        admin, _definition("phone", {"type": "field_changed", "field": "phone"})
    )

    created = await admin.post(
        "/api/v1/contacts?wait=true", json={"first_name": "Ada", "email": "a@example.com"}
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    changed = await admin.patch(
        f"/api/v1/contacts/{contact_id}?wait=true", json={"email": "ada@example.com"}
    )
    assert changed.status_code == 200, changed.text

    (started,) = await _settled(admin, on_create, 1)
    assert started["contact_id"] == contact_id
    assert started["ui_status"] == "seen"
    assert started["trigger"]["type"] == "record_created"
    (emailed,) = await _settled(admin, on_email, 1)
    assert emailed["trigger"]["field"] == "email"
    assert await _executions(admin, on_phone) == []


async def test_a_definition_updating_its_own_contact_does_not_trigger_itself(
    stack: Stack, triggers: None
) -> None:
    admin = stack.caller("admin")
    touch = {
        "id": "touch",
        "type": "update_contact",
        "name": "Touch",
        "config": {"fields": {"fields.touched": "yes"}},
    }
    looping = await _activate(admin, _definition("loop", {"type": "record_updated"}, touch))
    created = await admin.post("/api/v1/contacts?wait=true", json={"first_name": "Bo"})
    contact_id = created.json()["id"]
    await admin.patch(f"/api/v1/contacts/{contact_id}?wait=true", json={"phone": "+1 555 0100"})

    runs = await _settled(admin, looping, 1)
    assert len(runs) == 1


async def test_reading_the_same_events_again_starts_nothing_new(
    stack: Stack, triggers: None, follower_address: str
) -> None:
    admin = stack.caller("admin")
    watched = await _activate(admin, _definition("again", {"type": "record_created"}))
    await admin.post("/api/v1/contacts?wait=true", json={"first_name": "Cy"})
    before = await _settled(admin, watched, 1)

    # A second follower from position zero (its own tracking row) replays the whole history.
    starter = TemporalStarter(follower_address, "default", stack.task_queue)
    try:
        live = TriggerFollower(starter)
        replay = live.with_suffix("__replay")
        with psycopg.connect(stack.database_url) as conn:
            create_copies(conn, live.tables, replay.tables)
        with Projector(stack.database_url, [replay]) as projector:
            await asyncio.to_thread(projector.run_until_caught_up)
    finally:
        starter.close()

    after = await _settled(admin, watched, 1)
    assert [e["id"] for e in after] == [e["id"] for e in before]
