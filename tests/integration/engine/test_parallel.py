"""`parallel` on the Temporal dev server: branches that run at once and join (all, any), what a
failing branch, a cancel and a killed worker leave behind (tasks, timeline, compensation)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.delivery.outbound import ALLOW_LOOPBACK
from application.metadata import CommandContext
from domain.execution import WorkflowExecution
from tests.integration.engine.servers import Endpoint
from tests.integration.engine.support import (
    Handle,
    change_task,
    definition,
    duplicated_events,
    event_types,
    start,
    step,
    until,
)
from worker.contracts import CANCEL_SIGNAL, CancelRequest, ExecutionSnapshot, TaskRef
from worker.main import build_worker

CTX = CommandContext(org_id="org_e", command_id="reader")
ROOT = Path(__file__).resolve().parents[3]


def parallel(step_id: str, join: str, **branches: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "parallel",
        "name": step_id.title(),
        "config": {
            "join": join,
            "branches": [{"name": name, "steps": steps} for name, steps in branches.items()],
        },
    }


def review(prefix: str, role: str) -> list[dict[str, Any]]:
    """A reviewer's branch: their task, then the wait for it."""
    return [
        step(
            f"{prefix}_task",
            "assign_task",
            title=f"{prefix} review of {{{{contact.first_name}}}}",
            assign_to=role,
        ),
        step(f"{prefix}_wait", "wait_for_task", task_from_step=f"{prefix}_task"),
    ]


def _execution(services: Services, execution_id: str) -> WorkflowExecution:
    return services.executions.get_execution(CTX, UUID(execution_id))


def _entries(execution: WorkflowExecution) -> dict[str, dict[str, Any]]:
    return {entry["step_id"]: entry for entry in execution.step_history}


async def _both_waiting(handle: Handle, timeout: float = 20) -> ExecutionSnapshot:
    return await until(
        handle,
        lambda s: len(s.branches) == 2 and all(b.status == "waiting" for b in s.branches),
        timeout,
    )


def _task(state: ExecutionSnapshot, step_id: str) -> TaskRef:
    (task,) = [t for t in state.tasks if t.step_id == step_id]
    return task


async def test_two_reviews_run_at_once_and_the_execution_goes_on_when_both_are_done(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    client = temporal_env.client
    body = definition(
        parallel(
            "reviews",
            "all",
            legal=review("legal", "role:legal"),
            finance=review("finance", "role:finance"),
        ),
        step(
            "verdict",
            "transform",
            expressions={
                "legal": "legal_wait.task.metadata.ok",
                "finance": "finance_wait.task.metadata.ok",
                "branches": "keys(reviews.branches)",
            },
        ),
        step("note", "update_status", status="{{finance_wait.task.status}}"),
        statuses=["done"],
    )
    execution_id, handle = await start(client, engine_queue, body)

    state = await _both_waiting(handle)
    # Both tasks exist while neither is done: the branches did not wait for each other.
    assert state.status == "waiting"
    assert {b.branch: b.current_step_id for b in state.branches} == {
        "legal": "legal_wait",
        "finance": "finance_wait",
    }
    legal, finance = _task(state, "legal_task"), _task(state, "finance_task")
    assert legal.title == "legal review of Ada"

    await change_task(client, engine_queue, finance.task_id, status="done", metadata={"ok": True})
    running = await until(handle, lambda s: any(b.status == "completed" for b in s.branches))
    assert running.current_step_id == "reviews"  # still joining: legal is not done
    await change_task(client, engine_queue, legal.task_id, status="done", metadata={"ok": False})
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "completed"
    execution = _execution(engine_services, execution_id)
    entries = _entries(execution)
    for step_id, branch in (
        ("legal_task", "legal"),
        ("legal_wait", "legal"),
        ("finance_task", "finance"),
        ("finance_wait", "finance"),
    ):
        assert entries[step_id]["within"] == {"step_id": "reviews", "branch": branch}
        assert entries[step_id]["status"] == "completed"
    assert "within" not in entries["reviews"]
    outputs = execution.step_outputs
    assert outputs["verdict"] == {"legal": False, "finance": True, "branches": ["legal", "finance"]}
    assert outputs["reviews"]["join"] == "all"
    assert outputs["reviews"]["first"] == "finance"
    assert outputs["reviews"]["branches"]["legal"]["status"] == "completed"
    assert (
        outputs["reviews"]["branches"]["legal"]["outputs"]["legal_wait"]["task"]["status"] == "done"
    )
    assert outputs["note"]["ui_status"] == "done"
    order = [entry["step_id"] for entry in execution.step_history]
    assert order.index("reviews") < order.index("legal_task") < order.index("verdict")


async def test_with_join_any_the_first_branch_to_end_cancels_the_other(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    client = temporal_env.client
    body = definition(
        parallel(
            "reviews",
            "any",
            legal=review("legal", "role:legal"),
            finance=review("finance", "role:finance"),
        ),
        step("after", "transform", expressions={"first": "reviews.first"}),
    )
    execution_id, handle = await start(client, engine_queue, body)
    state = await _both_waiting(handle)

    await change_task(client, engine_queue, _task(state, "legal_task").task_id, status="done")
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "completed"
    finance = engine_services.tasks.get_task(CTX, UUID(_task(state, "finance_task").task_id))
    assert finance.status == "cancelled"
    execution = _execution(engine_services, execution_id)
    entries = _entries(execution)
    assert entries["legal_wait"]["status"] == "completed"
    assert entries["finance_task"]["status"] == "completed"
    assert entries["finance_wait"]["status"] == "cancelled"
    assert entries["finance_wait"]["error"] == "Branch 'legal' finished first."
    assert execution.step_outputs["after"] == {"first": "legal"}
    assert execution.step_outputs["reviews"]["branches"]["finance"]["status"] == "cancelled"


async def test_a_failing_branch_fails_the_parallel_step_and_undoes_the_other_branch(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    made = step("made", "create_contact", fields={"first_name": "Branchy"})
    made["compensate"] = {
        "type": "archive_contact",
        "config": {"contact_id": "{{made.contact.id}}", "reason": "undone"},
    }
    body = definition(
        parallel(
            "both",
            "all",
            records=[made, step("wait", "delay", seconds=30)],
            checks=[
                step("ok", "delay", seconds=1),  # by then the other branch waits
                step("broken", "update_status", status="{{payload.status}}"),
            ],
        ),
        step("never", "transform", expressions={"x": "payload"}),
        statuses=["known"],
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"status": "unknown"}
    )
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "compensated"
    assert result.error is not None
    assert result.error.startswith("Step 'both' (Both): branch 'checks' failed: Step 'broken'")
    execution = _execution(engine_services, execution_id)
    entries = _entries(execution)
    assert entries["broken"]["status"] == "failed"
    assert entries["wait"]["status"] == "cancelled"
    assert entries["wait"]["error"] == "Branch 'checks' failed."
    assert entries["made-undo"]["compensation_of"] == "made"
    assert entries["made-undo"]["status"] == "completed"
    contact_id = execution.step_outputs["made"]["contact"]["id"]
    assert engine_services.contacts.get_contact(CTX, UUID(contact_id)).archived
    assert "never" not in entries


async def test_cancelling_the_execution_reaches_every_branch(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    client = temporal_env.client
    body = definition(
        parallel(
            "reviews",
            "all",
            legal=review("legal", "role:legal"),
            finance=review("finance", "role:finance"),
        ),
    )
    execution_id, handle = await start(client, engine_queue, body)
    state = await _both_waiting(handle)

    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="withdrawn", actor="user:9"))
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "cancelled"
    for step_id in ("legal_task", "finance_task"):
        task = engine_services.tasks.get_task(CTX, UUID(_task(state, step_id).task_id))
        assert task.status == "cancelled"
    execution = _execution(engine_services, execution_id)
    entries = _entries(execution)
    assert entries["legal_wait"]["status"] == "cancelled"
    assert entries["finance_wait"]["status"] == "cancelled"
    assert entries["reviews"]["status"] == "cancelled"
    assert execution.status == "cancelled"


async def test_a_worker_killed_mid_branch_is_replaced_and_the_branches_go_on(
    temporal_env: WorkflowEnvironment,
    engine_services: Services,
    engine_db: str,
) -> None:
    client = temporal_env.client
    queue = f"killed-parallel-{uuid.uuid4().hex[:8]}"
    body = definition(
        parallel(
            "reviews",
            "all",
            legal=review("legal", "role:legal"),
            finance=review("finance", "role:finance"),
        ),
        step(
            "after",
            "transform",
            expressions={"both": "[legal_wait.task.status, finance_wait.task.status]"},
        ),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.engine.worker_process",
        engine_db,
        client.service_client.config.target_host,
        queue,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"ready"
        execution_id, handle = await start(client, queue, body, task_timeout=timedelta(seconds=2))
        state = await _both_waiting(handle)
    finally:
        process.kill()  # SIGKILL: no graceful shutdown
        await process.wait()

    async with build_worker(client, engine_services, queue, outbound=ALLOW_LOOPBACK):
        # The new worker rebuilds both branches from the history and hears each task's end.
        await change_task(client, queue, _task(state, "legal_task").task_id, status="done")
        await change_task(client, queue, _task(state, "finance_task").task_id, status="done")
        result = await asyncio.wait_for(handle.result(), 60)

    assert result.status == "completed"
    execution = _execution(engine_services, execution_id)
    assert execution.step_outputs["after"] == {"both": ["done", "done"]}
    assert duplicated_events(engine_db, [execution_id]) == []
    names = event_types(engine_db, execution_id)
    assert names.count("StepStarted(legal_task)") == 1
    assert names.count("StepStarted(finance_wait)") == 1


async def test_a_temporal_cancel_undoes_the_completed_branch_steps_and_closes_the_others(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    client = temporal_env.client
    made = step("made", "create_contact", fields={"first_name": "Temp"})
    made["compensate"] = {
        "type": "archive_contact",
        "config": {"contact_id": "{{made.contact.id}}", "reason": "cancelled"},
    }
    body = definition(
        parallel(
            "both",
            "all",
            records=[made, step("pause", "delay", seconds=60)],
            legal=review("legal", "role:legal"),
        ),
    )
    execution_id, handle = await start(client, engine_queue, body)
    state = await _both_waiting(handle)

    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 30)

    execution = _execution(engine_services, execution_id)
    assert execution.status == "compensated"
    entries = _entries(execution)
    assert entries["pause"]["status"] == "cancelled"
    assert entries["legal_wait"]["status"] == "cancelled"
    assert entries["made-undo"]["status"] == "completed"
    contact_id = execution.step_outputs["made"]["contact"]["id"]
    assert engine_services.contacts.get_contact(CTX, UUID(contact_id)).archived
    task = engine_services.tasks.get_task(CTX, UUID(_task(state, "legal_task").task_id))
    assert task.status == "cancelled"


async def test_a_branch_step_s_error_policy_and_jumps_stay_within_its_branch(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    bad = {**step("bad", "update_status", status="{{payload.status}}"), "on_failure": "continue"}
    body = definition(
        parallel(
            "both",
            "all",
            lenient=[bad, step("after_bad", "transform", expressions={"failed": "bad.failed"})],
            short=[
                step(
                    "check",
                    "condition",
                    field="{{payload.skip}}",
                    branches=[{"if": True, "then_goto": "end"}],
                ),
                step("skipped", "transform", expressions={"x": "payload"}),
            ],
        ),
        step("after", "transform", expressions={"statuses": "both.branches.*.status"}),
        statuses=["known"],
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"status": "unknown", "skip": True}
    )
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "completed", result.error
    execution = _execution(engine_services, execution_id)
    entries = _entries(execution)
    assert entries["bad"]["status"] == "failed"
    assert execution.step_outputs["after_bad"] == {"failed": True}
    assert entries["check"]["status"] == "completed"
    assert "skipped" not in entries  # `end` ended the branch, not the execution
    assert execution.step_outputs["after"] == {"statuses": ["completed", "completed"]}


async def test_with_join_any_a_branch_in_the_middle_of_a_call_finishes_it_then_stops(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    endpoint.failures[key] = 2  # answers 503 twice: the call takes two backoffs
    body = definition(
        parallel(
            "race",
            "any",
            quick=[step("nap", "delay", seconds=0.2)],
            slow=[
                step(
                    "call",
                    "http_request",
                    method="POST",
                    url=f"{endpoint.url}/flaky/{key}",
                    backoff_seconds=1,
                ),
                step("never", "transform", expressions={"x": "payload"}),
            ],
        ),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "completed", result.error
    execution = _execution(engine_services, execution_id)
    entries = _entries(execution)
    # The call was not cut off half-way: all three attempts ran and its end is recorded.
    assert endpoint.hits[f"/flaky/{key}"] == 3
    assert entries["call"]["status"] == "completed"
    assert "never" not in entries
    race = execution.step_outputs["race"]
    assert race["first"] == "quick"
    assert race["branches"]["slow"] == {
        "status": "cancelled",
        "outputs": {"call": entries["call"]["output"]},
    }
