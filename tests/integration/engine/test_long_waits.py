"""Waits of days and weeks, in seconds: Temporal's time-skipping test server.

The engine's timers are durable Temporal timers, so skipping the server's clock is enough; the
worker, the activities and Postgres are the real ones.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from application.bundle import Services
from application.delivery.outbound import ALLOW_LOOPBACK
from application.metadata import CommandContext
from tests.integration.engine.servers import Mailbox
from tests.integration.engine.support import (
    change_task,
    definition,
    event_types,
    events,
    snapshot,
    start,
    step,
)
from tests.support import temporal as temporal_support
from worker.contracts import NAMED_SIGNAL, NamedSignal
from worker.main import build_worker

CTX = CommandContext(org_id="org_e", command_id="reader")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def skipping(
    engine_services: Services, smtp: tuple[str, Mailbox]
) -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A time-skipping server with the real worker on it."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_support.test_server_path(),
        data_converter=pydantic_data_converter,
    )
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    try:
        async with build_worker(
            env.client, engine_services, queue, smtp_url=smtp[0], outbound=ALLOW_LOOPBACK
        ):
            yield env, queue
    finally:
        await env.shutdown()


def _review(**wait: Any) -> dict[str, Any]:
    return definition(
        step("assign", "assign_task", title="Review", assign_to="role:admin"),
        step("wait", "wait_for_task", task_from_step="assign", **wait),
        step("after", "update_status", status="reviewed"),
        statuses=["reviewed"],
    )


def _reminders(url: str, execution_id: str) -> list[dict[str, Any]]:
    return [
        row["data"]
        for row in events(url, execution_id)
        if row["event_type"].endswith("ReminderSent")
    ]


async def test_a_week_long_wait_reminds_the_assignee_then_times_out(
    skipping: tuple[WorkflowEnvironment, str], engine_services: Services, engine_db: str
) -> None:
    env, queue = skipping
    body = _review(timeout_days=7, on_timeout="send_reminder", max_reminders=2)
    execution_id, handle = await start(env.client, queue, body)

    result = await handle.result()  # the server skips 21 days: 7 + 7 + 7

    assert (result.status, result.step_id) == ("timed_out", "wait")
    assert "timed out after waiting 21 days" in (result.error or "")
    reminders = _reminders(engine_db, execution_id)
    assert [(r["count"], r["recipient"], r["step_id"]) for r in reminders] == [
        (1, "role:admin", "wait"),
        (2, "role:admin", "wait"),
    ]
    assert "Review" in reminders[0]["message"]
    assert event_types(engine_db, execution_id)[-6:] == [
        "Waiting(wait)",
        "ReminderSent(wait)",
        "Waiting(wait)",
        "ReminderSent(wait)",
        "Waiting(wait)",
        "TimedOut(wait)",
    ]
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert execution.status == "timed_out"
    assert execution.reminders_sent == {"wait": 2}


async def test_a_task_done_after_the_first_reminder_ends_the_wait(
    skipping: tuple[WorkflowEnvironment, str], engine_db: str
) -> None:
    env, queue = skipping
    body = _review(timeout_days=7, on_timeout="send_reminder", max_reminders=2)
    execution_id, handle = await start(env.client, queue, body)
    await env.sleep(timedelta(days=8))
    task_id = (await snapshot(handle)).tasks[0].task_id

    await change_task(env.client, queue, task_id, status="done")

    result = await handle.result()
    assert (result.status, result.ui_status) == ("completed", "reviewed")
    assert len(_reminders(engine_db, execution_id)) == 1
    output = (await snapshot(handle)).outputs["wait"]
    assert (output["timed_out"], output["reminders_sent"]) == (False, 1)


async def test_on_timeout_fail_and_continue(
    skipping: tuple[WorkflowEnvironment, str], engine_services: Services
) -> None:
    env, queue = skipping
    _, failing = await start(env.client, queue, _review(timeout_days=3, on_timeout="fail"))
    failed = await failing.result()
    assert (failed.status, failed.step_id) == ("failed", "wait")
    assert "timed out after waiting 3 days" in (failed.error or "")

    execution_id, going = await start(
        env.client, queue, _review(timeout_days=0.5, on_timeout="continue")
    )
    result = await going.result()
    assert (result.status, result.ui_status) == ("completed", "reviewed")
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert execution.step_outputs["wait"]["timed_out"] is True
    assert execution.step_outputs["wait"]["task"]["status"] == "todo"


def _reminded() -> dict[str, Any]:
    return definition(
        step("assign", "assign_task", title="Upload documents", assign_to="role:hr"),
        step(
            "nudge",
            "reminder",
            task_from_step="assign",
            delay_days=2,
            message="Please upload your documents, {{contact.first_name}}.",
            to="{{contact.email}}",
        ),
        step("go", "wait_for_signal", signal="go"),
    )


async def test_a_reminder_fires_later_unless_its_task_is_done(
    skipping: tuple[WorkflowEnvironment, str], engine_db: str, mailbox: Mailbox
) -> None:
    env, queue = skipping
    pending_address = f"late-{uuid.uuid4().hex[:6]}@example.com"
    done_address = f"quick-{uuid.uuid4().hex[:6]}@example.com"
    pending_id, pending = await start(
        env.client, queue, _reminded(), contact={"first_name": "Ada", "email": pending_address}
    )
    done_id, done = await start(
        env.client, queue, _reminded(), contact={"first_name": "Bo", "email": done_address}
    )
    await env.sleep(timedelta(days=1))
    assert (await snapshot(pending)).current_step_id == "go"  # did not wait for the reminder
    await change_task(env.client, queue, (await snapshot(done)).tasks[0].task_id, status="done")

    await env.sleep(timedelta(days=2))

    (fired,) = _reminders(engine_db, pending_id)
    assert fired["recipient"] == pending_address
    assert fired["message"] == "Please upload your documents, Ada."
    (message,) = mailbox.to(pending_address)
    assert "Please upload your documents, Ada." in str(message.get_payload())
    assert _reminders(engine_db, done_id) == []
    assert mailbox.to(done_address) == []
    for handle in (pending, done):
        await handle.signal(NAMED_SIGNAL, NamedSignal(name="go"))
    # No skipping while waiting for these: the other execution would jump years ahead.
    with env.auto_time_skipping_disabled():
        assert (await pending.result()).status == "completed"
        assert (await done.result()).status == "completed"
