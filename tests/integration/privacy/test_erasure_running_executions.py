"""Erasing a contact over HTTP while one of its executions waits on a task: the record-trigger
follower sees `Contact.Erased` and runs the contact's erasure workflow, which cancels the
execution with the reason `contact erased: <reason>` (its open task too), as `bytedash
projector` and `bytedash worker` do it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from interfaces.triggers import TemporalStarter, TriggerFollower
from projections import Projector
from tests.integration.api import conftest as api_stack
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller
from tests.integration.engine.over_http.support import activate, body, ended, step
from worker.erasure_calls import ErasureOutcome, erasure_workflow_id

# The API stack of tests/integration/api (real Postgres, Temporal dev server, worker, projector).
module_database_url = api_stack.module_database_url
projector_running = api_stack.projector_running
stack = api_stack.stack


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def triggers(stack: Stack, temporal_env: WorkflowEnvironment) -> AsyncIterator[None]:
    stop = threading.Event()
    address = str(temporal_env.client.service_client.config.target_host)
    starter = TemporalStarter(address, "default", stack.task_queue)

    def follow() -> None:
        with Projector(stack.database_url, [TriggerFollower(starter)], poll_interval=0.2) as p:
            p.run_forever(stop)

    thread = threading.Thread(target=follow, name="erasure-triggers", daemon=True)
    thread.start()
    yield
    stop.set()
    await asyncio.to_thread(thread.join, 10)
    starter.close()


async def _waiting(caller: Caller, execution_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(f"/api/v1/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] == "waiting":
            found: dict[str, Any] = response.json()
            return found
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


async def test_erasing_a_contact_cancels_its_waiting_execution_with_the_reason(
    stack: Stack, triggers: None, temporal_env: WorkflowEnvironment
) -> None:
    admin = stack.caller("admin")
    contact = (
        await admin.post(
            "/api/v1/contacts?wait=true",
            json={"first_name": "Erin", "email": "erin@example.com"},
        )
    ).json()
    review = body(
        step("review", "assign_task", title="Review {{contact.first_name}}", assign_to="role:a"),
        step("wait", "wait_for_task", task_from_step="review"),
    )
    definition_id = await activate(admin, review)
    started = await admin.post(
        "/api/v1/executions", json={"definition_id": definition_id, "contact_id": contact["id"]}
    )
    assert started.status_code in (201, 202), started.text
    execution_id = started.json()["id"]
    await _waiting(admin, execution_id)
    (task,) = (await admin.get(f"/api/v1/tasks?execution_id={execution_id}")).json()["items"]
    assert task["status"] == "todo"

    erased = await admin.post(
        f"/api/v1/contacts/{contact['id']}/erase?wait=true", json={"reason": "Art. 17 request"}
    )
    assert erased.status_code == 200, erased.text

    execution = await ended(admin, execution_id)
    assert execution["status"] == "cancelled"
    assert execution["error"] == "contact erased: Art. 17 request"
    assert execution["cancelled_by"] == "user:u1"
    task = (await admin.get(f"/api/v1/tasks/{task['id']}")).json()
    assert task["status"] == "cancelled"
    erasure = temporal_env.client.get_workflow_handle(
        erasure_workflow_id(contact["id"]), result_type=ErasureOutcome
    )
    outcome = await asyncio.wait_for(erasure.result(), 30)
    assert outcome.cancelled == [execution_id]
    assert outcome.still_running == []
