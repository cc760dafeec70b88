"""Saga compensation on the Temporal dev server: what a later failure, a cancel, or a failing
compensation leaves behind (the undo calls made, the contact put back, the timeline, the
status)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker
from temporalio.workflow import NondeterminismError

from application.bundle import Services
from application.delivery.outbound import ALLOW_LOOPBACK
from application.metadata import CommandContext
from domain.execution import WorkflowExecution
from tests.integration.engine.servers import Endpoint
from tests.integration.engine.support import (
    definition,
    duplicated_events,
    event_types,
    snapshot,
    start,
    step,
    until,
    waiting_at,
)
from worker.contracts import CANCEL_SIGNAL, CancelRequest
from worker.main import WORKFLOWS, build_worker
from worker.workflows import engine

CTX = CommandContext(org_id="org_e", command_id="reader")
ROOT = Path(__file__).resolve().parents[3]


def _execution(services: Services, execution_id: str) -> WorkflowExecution:
    return services.executions.get_execution(CTX, UUID(execution_id))


def _call(step_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return step(step_id, "http_request", method="POST", url=url, **extra)


def _with_undo(body: dict[str, Any], *compensate: Any) -> dict[str, Any]:
    body["compensate"] = compensate[0] if len(compensate) == 1 else list(compensate)
    return body


async def test_a_failing_step_undoes_the_completed_steps_in_reverse_order(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    base = f"{endpoint.url}/ok/{key}"
    body = definition(
        _with_undo(
            _call("reserve", f"{base}/reserve", body={"seat": 12}),
            {
                "type": "http_request",
                "name": "Release the seat",
                "config": {
                    "method": "POST",
                    "url": f"{base}/release",
                    "body": {"seat": "{{reserve.body.json.seat}}"},
                },
            },
        ),
        _with_undo(
            step("mark", "update_contact", fields={"status": "booked"}),
            {"id": "unmark", "type": "update_contact", "config": {"fields": {"status": "lead"}}},
        ),
        step("plain", "update_status", status="booked"),
        _call("charge", f"{endpoint.url}/status/400"),
        _call("never", f"{base}/never"),
        statuses=["booked"],
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    result = await handle.result()

    assert result.status == "compensated"
    assert result.step_id == "charge"
    assert "400" in (result.error or "")
    paths = [r["path"] for r in endpoint.requests if r["path"].startswith(f"/ok/{key}")]
    assert paths == [f"/ok/{key}/reserve", f"/ok/{key}/release"]
    released = [r for r in endpoint.requests if r["path"] == f"/ok/{key}/release"]
    assert json.loads(released[0]["body"]) == {"seat": 12}
    execution = _execution(engine_services, execution_id)
    assert execution.status == "compensated"
    contact = engine_services.contacts.get_contact(CTX, UUID(execution.contact_id or ""))
    assert contact.status == "lead"
    timeline = [
        (e["step_id"], e["status"], e.get("compensation_of")) for e in execution.step_history
    ]
    assert timeline == [
        ("start", "completed", None),
        ("reserve", "completed", None),
        ("mark", "completed", None),
        ("plain", "completed", None),
        ("charge", "failed", None),
        ("unmark", "completed", "mark"),
        ("reserve-undo", "completed", "reserve"),
    ]
    names = event_types(engine_db, execution_id)
    assert names[-1] == "Compensated"
    assert "CompensationStarted(charge)" in names
    assert names.index("CompensationStepStarted(unmark)") < names.index(
        "CompensationStepStarted(reserve-undo)"
    )


async def test_a_compensation_that_keeps_failing_is_retried_reported_and_the_rest_still_run(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    base = f"{endpoint.url}/ok/{key}"
    broken = f"{endpoint.url}/flaky/{key}-undo"
    endpoint.failures[f"{key}-undo"] = 100  # answers 503 every time
    body = definition(
        _with_undo(
            _call("first", f"{base}/first"),
            {"type": "http_request", "config": {"method": "POST", "url": f"{base}/undo-first"}},
        ),
        _with_undo(
            _call("second", f"{base}/second"),
            {
                "type": "http_request",
                "config": {
                    "method": "DELETE",
                    "url": broken,
                    "retries": 2,
                    "backoff_seconds": 0.1,
                },
            },
        ),
        _call("boom", f"{endpoint.url}/status/422"),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    result = await handle.result()

    assert result.status == "compensation_failed"
    assert endpoint.hits[f"/flaky/{key}-undo"] == 3  # the first attempt and its 2 retries
    assert endpoint.hits[f"/ok/{key}/undo-first"] == 1  # still undone after the failure
    assert "second-undo" in (result.error or "")
    execution = _execution(engine_services, execution_id)
    assert execution.status == "compensation_failed"
    assert "compensation failed (second-undo:" in (execution.error or "")
    failed = [e for e in execution.step_history if e["step_id"] == "second-undo"]
    assert failed[0]["status"] == "failed"
    assert failed[0]["compensation_of"] == "second"
    assert "503" in failed[0]["error"]


async def test_cancelling_runs_the_compensations_then_cancels_the_open_tasks(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    body = definition(
        _with_undo(
            step("task", "assign_task", title="Review", assign_to="role:hr"),
            {
                "type": "update_task",
                "name": "Mark the review withdrawn",
                "config": {"task_from_step": "task", "updates": {"title": "Withdrawn review"}},
            },
            {
                "type": "http_request",
                "config": {
                    "method": "POST",
                    "url": f"{endpoint.url}/ok/{key}/withdrawn",
                    "body": {"task": "{{task.task.id}}"},
                },
            },
        ),
        step("wait", "wait_for_task", task_from_step="task"),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    state = await waiting_at(handle, "wait")
    (task_ref,) = state.tasks

    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="applicant withdrew", actor="user:9"))
    result = await handle.result()

    assert result.status == "compensated"
    assert result.error == "applicant withdrew"
    (withdrawn,) = [r for r in endpoint.requests if r["path"] == f"/ok/{key}/withdrawn"]
    assert task_ref.task_id in withdrawn["body"]
    task = engine_services.tasks.get_task(CTX, UUID(task_ref.task_id))
    assert (task.title, task.status) == ("Withdrawn review", "cancelled")
    execution = _execution(engine_services, execution_id)
    assert execution.status == "compensated"
    timeline = [(e["step_id"], e.get("compensation_of")) for e in execution.step_history]
    assert timeline[-2:] == [("task-undo", "task"), ("task-undo-2", "task")]
    names = event_types(engine_db, execution_id)
    assert names.index("CompensationStarted") < names.index("CompensationStepStarted(task-undo)")


async def test_without_a_completed_step_to_undo_a_failure_stays_a_plain_failure(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    body = definition(
        _with_undo(
            _call("broken", f"{endpoint.url}/status/404"),
            {
                "type": "http_request",
                "config": {"method": "POST", "url": f"{endpoint.url}/ok/{key}"},
            },
        ),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    result = await handle.result()

    assert result.status == "failed"
    assert endpoint.hits[f"/ok/{key}"] == 0
    assert _execution(engine_services, execution_id).status == "failed"


async def test_a_worker_killed_mid_compensation_is_replaced_and_compensation_ends_once(
    temporal_env: WorkflowEnvironment,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    client = temporal_env.client
    queue = f"killed-saga-{uuid.uuid4().hex[:8]}"
    key = uuid.uuid4().hex[:8]
    endpoint.failures[f"{key}-undo"] = 2  # the second step's undo answers 503 twice
    body = definition(
        _with_undo(
            _call("first", f"{endpoint.url}/ok/{key}/first"),
            {
                "type": "http_request",
                "config": {"method": "POST", "url": f"{endpoint.url}/ok/{key}/undo-first"},
            },
        ),
        _with_undo(
            _call("second", f"{endpoint.url}/ok/{key}/second"),
            {
                "type": "http_request",
                "config": {
                    "method": "POST",
                    "url": f"{endpoint.url}/flaky/{key}-undo",
                    "retries": 3,
                    "backoff_seconds": 1,
                },
            },
        ),
        _call("boom", f"{endpoint.url}/status/409"),
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
        # Compensating: its undo call failed once (recorded) and waits a second to retry.
        await until(handle, lambda s: s.status == "compensating", timeout=20)
        deadline = asyncio.get_running_loop().time() + 20
        while "HttpRequestMade(second-undo)" not in event_types(engine_db, execution_id):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
    finally:
        process.kill()  # SIGKILL: no graceful shutdown
        await process.wait()

    async with build_worker(client, engine_services, queue, outbound=ALLOW_LOOPBACK):
        result = await asyncio.wait_for(handle.result(), 60)
        state = await snapshot(handle)

    assert result.status == "compensated"
    assert state.status == "compensated"
    assert endpoint.hits[f"/flaky/{key}-undo"] == 3  # two 503s, then done: none lost or doubled
    assert endpoint.hits[f"/ok/{key}/undo-first"] == 1
    names = event_types(engine_db, execution_id)
    assert names[names.index("CompensationStarted(boom)") :] == [
        "CompensationStarted(boom)",
        "CompensationStepStarted(second-undo)",
        "HttpRequestMade(second-undo)",
        "HttpRequestMade(second-undo)",
        "HttpRequestMade(second-undo)",
        "StepCompleted(second-undo)",
        "CompensationStepStarted(first-undo)",
        "HttpRequestMade(first-undo)",
        "StepCompleted(first-undo)",
        "Compensated",
    ]
    repeated = duplicated_events(engine_db, [execution_id])
    assert [(row["event_type"], row["step_id"], row["n"]) for row in repeated] == [
        ("WorkflowExecution.HttpRequestMade", "second-undo", 3)  # one per attempt
    ]


HISTORIES = ROOT / "tests" / "histories"
SAGA_HISTORIES = (
    "execution_compensated",
    "execution_compensation_failed",
    "execution_compensated_on_cancel",
)


async def test_the_recorded_compensations_replay_and_depend_on_their_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The histories of record_saga_histories.py replay; under another patch name (as if the
    compensation had been added without its guard) they do not."""
    histories = [
        WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
        for name in SAGA_HISTORIES
    ]
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    for history in histories:
        await replayer.replay_workflow(history)

    monkeypatch.setattr(engine, "COMPENSATION_PATCH", "some-other-change")

    for history in histories:
        with pytest.raises(NondeterminismError):
            await replayer.replay_workflow(history)


async def test_a_cancel_that_arrives_mid_compensation_does_not_cut_it_short(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    endpoint.failures[f"{key}-slow"] = 2  # the undo answers 503 twice, a second apart
    body = definition(
        _with_undo(
            _call("first", f"{endpoint.url}/ok/{key}/first"),
            {
                "type": "http_request",
                "config": {"method": "POST", "url": f"{endpoint.url}/ok/{key}/undo"},
            },
        ),
        _with_undo(
            _call("second", f"{endpoint.url}/ok/{key}/second"),
            {
                "type": "http_request",
                "config": {
                    "method": "POST",
                    "url": f"{endpoint.url}/flaky/{key}-slow",
                    "backoff_seconds": 1,
                },
            },
        ),
        _call("boom", f"{endpoint.url}/status/400"),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    await until(handle, lambda s: s.status == "compensating")

    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="stop it", actor="user:9"))
    await handle.cancel()  # a Temporal cancel request too
    result = await handle.result()

    assert (result.status, result.step_id) == ("compensated", "boom")
    assert endpoint.hits[f"/flaky/{key}-slow"] == 3
    assert endpoint.hits[f"/ok/{key}/undo"] == 1
    execution = _execution(engine_services, execution_id)
    assert execution.status == "compensated"
    assert "400" in (execution.error or "")
