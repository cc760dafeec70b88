"""Changing a task through TaskCommandWorkflow (the PATCH /tasks path) wakes its execution."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.metadata import CommandContext
from tests.integration.engine.support import (
    META,
    change_task,
    definition,
    snapshot,
    start,
    step,
    waiting_at,
)
from worker.contracts import (
    TASK_COMMAND_WORKFLOW,
    TASK_STATUS_CHANGED_SIGNAL,
    CommandResult,
    TaskCommand,
    TaskStatusChanged,
)

CTX = CommandContext(org_id="org_e", command_id="reader")


def _two_tasks() -> dict[str, Any]:
    return definition(
        step("first", "assign_task", title="First", assign_to="role:a"),
        step("second", "assign_task", title="Second", assign_to="role:b"),
        step("wait", "wait_for_task", task_from_step="second"),
        step(
            "route",
            "condition",
            field="{{wait.task.status}}",
            branches=[{"if": "cancelled", "then_goto": "dropped"}],
        ),
        step("decided", "update_status", status="{{wait.task.metadata.outcome}}", next_="end"),
        step("dropped", "update_status", status="dropped"),
        statuses=["approved", "dropped"],
    )


async def test_completing_the_task_wakes_the_wait_and_another_task_does_not(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    client = temporal_env.client
    execution_id, handle = await start(client, engine_queue, _two_tasks())
    state = await waiting_at(handle, "wait")
    ids = {ref.step_id: ref.task_id for ref in state.tasks}
    assert state.waiting is not None and state.waiting.task_id == ids["second"]

    # The other task of the same execution: the execution hears it, the wait ignores it.
    other = await change_task(client, engine_queue, ids["first"], status="done")
    assert other.task_status_changed is not None
    assert other.task_status_changed.step_id == "first"
    await waiting_at(handle, "wait")
    heard = {ref.task_id: ref.status for ref in (await snapshot(handle)).tasks}
    assert heard[ids["first"]] == "done"
    assert (await snapshot(handle)).waiting is not None

    # In progress is not finished: still waiting.
    await change_task(client, engine_queue, ids["second"], status="in_progress")
    await waiting_at(handle, "wait")

    await change_task(
        client, engine_queue, ids["second"], status="done", metadata={"outcome": "approved"}
    )
    result = await handle.result()

    assert (result.status, result.ui_status) == ("completed", "approved")
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    output = execution.step_outputs["wait"]
    assert output["task"]["id"] == ids["second"]
    assert output["task"]["status"] == "done"
    assert output["task"]["metadata"] == {"outcome": "approved"}
    assert output["task"]["completed_at"] is not None
    assert output["timed_out"] is False


async def test_a_cancelled_task_ends_the_wait_with_its_status(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str
) -> None:
    client = temporal_env.client
    _, handle = await start(client, engine_queue, _two_tasks())
    state = await waiting_at(handle, "wait")
    second = next(ref.task_id for ref in state.tasks if ref.step_id == "second")

    await change_task(client, engine_queue, second, status="cancelled")

    result = await handle.result()
    assert (result.status, result.ui_status) == ("completed", "dropped")


async def test_a_forged_signal_for_the_task_of_another_execution_is_ignored(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str
) -> None:
    client = temporal_env.client
    execution_id, handle = await start(client, engine_queue, _two_tasks())
    state = await waiting_at(handle, "wait")
    second = next(ref.task_id for ref in state.tasks if ref.step_id == "second")

    await handle.signal(
        TASK_STATUS_CHANGED_SIGNAL,
        TaskStatusChanged(execution_id="someone-else", task_id=second, status="done"),
    )
    await handle.signal(
        TASK_STATUS_CHANGED_SIGNAL,
        TaskStatusChanged(execution_id=execution_id, task_id="not-ours", status="done"),
    )

    state = await waiting_at(handle, "wait")
    assert {ref.task_id: ref.status for ref in state.tasks}[second] == "todo"
    await change_task(client, engine_queue, second, status="done", metadata={"outcome": "approved"})
    assert (await handle.result()).status == "completed"


async def test_changing_a_task_of_a_finished_execution_still_succeeds(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str
) -> None:
    client = temporal_env.client
    body = definition(step("task", "assign_task", title="Leftover", assign_to="role:a"))
    _, handle = await start(client, engine_queue, body)
    assert (await handle.result()).status == "completed"
    task_id = (await snapshot(handle)).tasks[0].task_id

    result = await change_task(client, engine_queue, task_id, status="done")

    assert result.task_status_changed is not None
    assert result.task_status_changed.status == "done"


async def test_a_standalone_task_signals_nobody(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    task_id = "00000000-0000-4000-8000-000000000001"
    await temporal_env.client.execute_workflow(
        TASK_COMMAND_WORKFLOW,
        TaskCommand(
            meta=META,
            action="assign",
            task_id=task_id,
            changes={"title": "Alone", "assigned_to": "user:1"},
        ),
        id=f"assign-{task_id}",
        task_queue=engine_queue,
        result_type=CommandResult,
    )
    result = await change_task(temporal_env.client, engine_queue, task_id, status="done")
    assert result.task_status_changed is None
