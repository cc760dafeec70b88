"""Cancelling an execution: the workflow, its open tasks, and the recorded reason."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.metadata import CommandContext
from tests.integration.engine.support import (
    META,
    change_task,
    definition,
    event_types,
    events,
    start,
    step,
    waiting_at,
)
from worker.contracts import (
    CANCEL_SIGNAL,
    EXECUTION_WORKFLOW,
    CancelRequest,
    ExecutionInput,
    ExecutionResult,
    execution_workflow_id,
)

CTX = CommandContext(org_id="org_e", command_id="reader")


def _review() -> dict[str, Any]:
    return definition(
        step("one", "assign_task", title="One", assign_to="role:a"),
        step("two", "assign_task", title="Two", assign_to="role:b"),
        step("three", "assign_task", title="Three", assign_to="role:c"),
        step("wait", "wait_for_task", task_from_step="three"),
    )


async def test_cancel_with_a_reason_cancels_the_workflow_and_its_open_tasks(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    client = temporal_env.client
    execution_id, handle = await start(client, engine_queue, _review())
    state = await waiting_at(handle, "wait")
    ids = {ref.step_id: ref.task_id for ref in state.tasks}
    await change_task(client, engine_queue, ids["one"], status="done")
    await change_task(client, engine_queue, ids["two"], status="in_progress")

    # What POST /executions/{id}/cancel does: the reason as a signal, then Temporal's cancel.
    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="Applicant withdrew", actor="user:9"))
    await handle.cancel()

    with pytest.raises(WorkflowFailureError) as ended:
        await handle.result()
    assert isinstance(ended.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert execution.status == "cancelled"
    assert execution.error == "Applicant withdrew"
    (cancelled,) = [
        r for r in events(engine_db, execution_id) if r["event_type"].endswith(".Cancelled")
    ]
    assert cancelled["data"]["cancelled_by"] == "user:9"
    statuses = {
        step_id: engine_services.tasks.get_task(CTX, UUID(task_id)).status
        for step_id, task_id in ids.items()
    }
    assert statuses == {"one": "done", "two": "cancelled", "three": "cancelled"}
    task_three = engine_services.tasks.get_task(CTX, UUID(ids["three"]))
    assert task_three.metadata == {"cancel_reason": "Applicant withdrew"}


async def test_a_temporal_cancel_alone_records_a_plain_reason(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    execution_id, handle = await start(temporal_env.client, engine_queue, _review())
    await waiting_at(handle, "wait")

    await handle.cancel()

    with pytest.raises(WorkflowFailureError):
        await handle.result()
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert (execution.status, execution.error) == ("cancelled", "cancelled")
    assert event_types(engine_db, execution_id)[-2:] == ["Waiting(wait)", "Cancelled"]


async def test_the_cancel_signal_alone_ends_the_execution_as_cancelled(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        step("pause", "delay", days=30),
        step("never", "update_status", status="x"),
        statuses=["x"],
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    await waiting_at(handle, "pause")

    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="duplicate"))

    result = await handle.result()
    assert (result.status, result.error) == ("cancelled", "duplicate")
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert (execution.status, execution.error) == ("cancelled", "duplicate")


async def test_a_cancel_that_arrives_with_the_start_still_records_the_execution(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_db: str,
) -> None:
    execution_id = str(uuid.uuid4())
    handle = await temporal_env.client.start_workflow(
        EXECUTION_WORKFLOW,
        ExecutionInput(
            meta=META,
            execution_id=execution_id,
            definition_id=str(uuid.uuid4()),
            definition_version=1,
            definition=_review(),
            contact={"first_name": "Ada"},
        ),
        id=execution_workflow_id(execution_id),
        task_queue=engine_queue,
        result_type=ExecutionResult,
        start_signal=CANCEL_SIGNAL,
        start_signal_args=[CancelRequest(reason="changed my mind")],
    )

    result = await handle.result()

    assert (result.status, result.error) == ("cancelled", "changed my mind")
    assert event_types(engine_db, execution_id) == [
        "Created",
        "Started",
        "StepStarted(start)",
        "StepCompleted(start)",
        "Cancelled",
    ]
