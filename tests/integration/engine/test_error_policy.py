"""Per-step error policy on the Temporal dev server: a step's own `retry`, and what its final
failure does (`on_failure`: continue, go to a step, park until an admin retries or skips it)."""

from __future__ import annotations

import asyncio
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
    start,
    step,
    until,
)
from worker.contracts import CANCEL_SIGNAL, PARKED_STEP_SIGNAL, CancelRequest, ParkedStepAction
from worker.main import WORKFLOWS, build_worker
from worker.workflows import engine

CTX = CommandContext(org_id="org_e", command_id="reader")
ROOT = Path(__file__).resolve().parents[3]
HISTORIES = ROOT / "tests" / "histories"


def _execution(services: Services, execution_id: str) -> WorkflowExecution:
    return services.executions.get_execution(CTX, UUID(execution_id))


def _call(step_id: str, url: str, **policy: Any) -> dict[str, Any]:
    body = step(step_id, "http_request", method="POST", url=url)
    body.update(policy)
    return body


def _timeline(execution: WorkflowExecution) -> list[tuple[str, str]]:
    return [(e["step_id"], e["status"]) for e in execution.step_history]


async def test_a_steps_own_retry_replaces_its_types_attempts_and_backoff(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    patient, impatient = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    endpoint.failures[patient] = 5
    endpoint.failures[impatient] = 5
    retry = {"attempts": 6, "backoff_seconds": 0.1, "max_backoff_seconds": 0.2}
    _, handle = await start(
        temporal_env.client,
        engine_queue,
        definition(_call("call", f"{endpoint.url}/flaky/{patient}", retry=retry)),
    )
    failing_id, failing = await start(
        temporal_env.client,
        engine_queue,
        definition(
            _call("call", f"{endpoint.url}/flaky/{impatient}", retry={"attempts": 2}),
        ),
    )

    assert (await handle.result()).status == "completed"  # 5 failures, then the 6th answers
    assert endpoint.hits[f"/flaky/{patient}"] == 6  # the type's default would stop at 4
    result = await failing.result()
    assert result.status == "failed"
    assert endpoint.hits[f"/flaky/{impatient}"] == 2
    assert "gave up after 2 attempts" in (result.error or "")
    assert _execution(engine_services, failing_id).status == "failed"


async def test_on_failure_continue_records_the_failure_and_goes_on(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    body = definition(
        _call("notify", f"{endpoint.url}/status/404", on_failure="continue"),
        step("note", "update_contact", fields={"fields.notify_error": "{{notify.error}}"}),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    result = await handle.result()

    assert result.status == "completed"
    execution = _execution(engine_services, execution_id)
    assert _timeline(execution)[1:] == [("notify", "failed"), ("note", "completed")]
    contact = engine_services.contacts.get_contact(CTX, UUID(execution.contact_id or ""))
    assert "404" in contact.fields["notify_error"]
    assert "StepFailed(notify)" in event_types(engine_db, execution_id)


async def test_on_failure_naming_a_step_goes_there(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    body = definition(
        _call("charge", f"{endpoint.url}/status/402", on_failure="manual"),
        _call("receipt", f"{endpoint.url}/ok/{key}/receipt", next="end"),
        step("manual", "assign_task", title="Charge by hand", assign_to="role:billing"),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    assert (await handle.result()).status == "completed"

    assert endpoint.hits[f"/ok/{key}/receipt"] == 0
    execution = _execution(engine_services, execution_id)
    assert _timeline(execution)[1:] == [("charge", "failed"), ("manual", "completed")]


async def test_a_parked_step_waits_for_an_admin_who_retries_it(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex[:8]
    endpoint.failures[key] = 1  # the first call fails (one attempt), the retry succeeds
    body = definition(
        _call("sync", f"{endpoint.url}/flaky/{key}", retry={"attempts": 1}, on_failure="park"),
        step("after", "update_status", status="synced"),
        statuses=["synced"],
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    parked = await until(handle, lambda s: s.status == "needs_attention")
    assert parked.current_step_id == "sync"
    assert _execution(engine_services, execution_id).status == "needs_attention"
    # An answer for another step changes nothing.
    await handle.signal(PARKED_STEP_SIGNAL, ParkedStepAction(step_id="after", action="skip"))
    await handle.signal(
        PARKED_STEP_SIGNAL,
        ParkedStepAction(step_id="sync", action="retry", actor="user:admin-1", reason="fixed"),
    )
    result = await handle.result()

    assert (result.status, result.ui_status) == ("completed", "synced")
    assert endpoint.hits[f"/flaky/{key}"] == 2
    execution = _execution(engine_services, execution_id)
    assert _timeline(execution)[1:] == [
        ("sync", "failed"),
        ("sync", "completed"),
        ("after", "completed"),
    ]
    first = execution.step_history[1]
    assert "503" in first["error"]
    assert first["resolution"]["action"] == "retry"
    assert first["resolution"]["requested_by"] == "user:admin-1"
    assert first["resolution"]["reason"] == "fixed"
    names = event_types(engine_db, execution_id)
    assert names.count("StepParked(sync)") == 1
    assert names.count("ParkedStepResolved(sync)") == 1


async def test_a_parked_step_that_an_admin_skips_is_recorded_skipped(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    body = definition(
        _call("sync", f"{endpoint.url}/status/400", on_failure="park"),
        step("after", "update_contact", fields={"fields.skipped": "{{sync.skipped}}"}),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    await until(handle, lambda s: s.status == "needs_attention")

    await handle.signal(
        PARKED_STEP_SIGNAL, ParkedStepAction(step_id="sync", action="skip", actor="user:a")
    )

    assert (await handle.result()).status == "completed"
    execution = _execution(engine_services, execution_id)
    assert _timeline(execution)[1:] == [("sync", "skipped"), ("after", "completed")]
    contact = engine_services.contacts.get_contact(CTX, UUID(execution.contact_id or ""))
    assert contact.fields["skipped"] is True


async def test_a_parked_execution_can_still_be_cancelled(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    endpoint: Endpoint,
) -> None:
    body = definition(_call("sync", f"{endpoint.url}/status/400", on_failure="park"))
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    await until(handle, lambda s: s.status == "needs_attention")

    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="gave up", actor="user:a"))

    assert (await handle.result()).status == "cancelled"
    execution = _execution(engine_services, execution_id)
    assert (execution.status, execution.error) == ("cancelled", "gave up")


async def test_the_recorded_error_policies_replay_and_depend_on_their_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The histories of record_saga_histories.py error_policy replay; under another patch
    name (as if the policy had been added without its guard) they do not."""
    histories = [
        WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
        for name in ("execution_error_policy", "execution_parked_retried_and_skipped")
    ]
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    for history in histories:
        await replayer.replay_workflow(history)

    monkeypatch.setattr(engine, "ERROR_POLICY_PATCH", "some-other-change")

    for history in histories:
        with pytest.raises(NondeterminismError):
            await replayer.replay_workflow(history)


async def test_a_parked_execution_outlives_its_worker_and_a_new_one_takes_the_answer(
    temporal_env: WorkflowEnvironment,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    client = temporal_env.client
    queue = f"parked-{uuid.uuid4().hex[:8]}"
    key = uuid.uuid4().hex[:8]
    endpoint.failures[key] = 1
    body = definition(
        _call("sync", f"{endpoint.url}/flaky/{key}", retry={"attempts": 1}, on_failure="park"),
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
        await until(handle, lambda s: s.status == "needs_attention", timeout=20)
    finally:
        process.kill()  # SIGKILL while parked
        await process.wait()

    await handle.signal(PARKED_STEP_SIGNAL, ParkedStepAction(step_id="sync", action="retry"))
    async with build_worker(client, engine_services, queue, outbound=ALLOW_LOOPBACK):
        result = await asyncio.wait_for(handle.result(), 60)

    assert result.status == "completed"
    assert endpoint.hits[f"/flaky/{key}"] == 2
    names = event_types(engine_db, execution_id)
    assert names.count("StepParked(sync)") == 1
    assert names.count("ParkedStepResolved(sync)") == 1
    repeated = duplicated_events(engine_db, [execution_id])
    assert {(row["event_type"].split(".")[1], row["step_id"]) for row in repeated} == {
        ("StepStarted", "sync"),  # one per run of the step: the parked one and the retry
        ("HttpRequestMade", "sync"),
    }
    assert all(row["n"] == 2 for row in repeated)
