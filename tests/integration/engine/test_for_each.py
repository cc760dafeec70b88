"""`for_each` on the Temporal dev server: a sub-sequence run per item of a list (tasks and
emails per document), its iterations in the timeline, its outputs collected; too long a list
refused; a failing iteration, a cancel; a long loop that continues as new and completes."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.metadata import CommandContext
from domain.execution import WorkflowExecution
from tests.integration.engine.servers import Mailbox
from tests.integration.engine.support import (
    change_task,
    definition,
    duplicated_events,
    event_types,
    snapshot,
    start,
    step,
    until,
)
from worker.contracts import CANCEL_SIGNAL, CancelRequest, ExecutionInput
from worker.main import build_worker

CTX = CommandContext(org_id="org_e", command_id="reader")
ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = [
    {"name": "Passport", "owner": "ana@example.test"},
    {"name": "Contract", "owner": "ben@example.test"},
    {"name": "Payslip", "owner": "cy@example.test"},
]


def for_each(step_id: str, items: Any, *steps: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "for_each",
        "name": step_id.title(),
        "config": {"items": items, "steps": list(steps), **config},
    }


def _execution(services: Services, execution_id: str) -> WorkflowExecution:
    return services.executions.get_execution(CTX, UUID(execution_id))


async def test_each_document_gets_its_task_and_email_and_the_outputs_are_collected(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    mailbox: Mailbox,
) -> None:
    key = uuid.uuid4().hex[:6]
    documents = [{**d, "owner": d["owner"].replace("@", f"+{key}@")} for d in DOCUMENTS]
    body = definition(
        for_each(
            "each_doc",
            "{{payload.documents}}",
            step(
                "check",
                "assign_task",
                title="Check {{loop.item.name}} ({{loop.index}} of {{loop.count}})",
                assign_to="role:docs",
            ),
            step(
                "tell",
                "send_email",
                to="{{loop.item.owner}}",
                subject="{{loop.item.name}} is being checked: task {{check.task.id}}",
                body="Hello",
            ),
        ),
        step("summary", "transform", expressions={"titles": "each_doc.outputs[].check.task.title"}),
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"documents": documents}
    )
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "completed", result.error
    execution = _execution(engine_services, execution_id)
    outputs = execution.step_outputs
    assert outputs["summary"]["titles"] == [
        "Check Passport (0 of 3)",
        "Check Contract (1 of 3)",
        "Check Payslip (2 of 3)",
    ]
    assert outputs["each_doc"]["count"] == 3
    task_ids = [iteration["check"]["task"]["id"] for iteration in outputs["each_doc"]["outputs"]]
    assert len(set(task_ids)) == 3
    for task_id in task_ids:
        assert engine_services.tasks.get_task(CTX, UUID(task_id)).status == "todo"
    for document, task_id in zip(documents, task_ids, strict=True):
        (message,) = mailbox.to(document["owner"])
        assert message["Subject"] == f"{document['name']} is being checked: task {task_id}"
    history = execution.step_history
    inner = [(e["step_id"], e["within"]["iteration"]) for e in history if "within" in e]
    assert inner == [
        ("check", 0),
        ("tell", 0),
        ("check", 1),
        ("tell", 1),
        ("check", 2),
        ("tell", 2),
    ]
    assert all(e["status"] == "completed" for e in history)
    (second_check,) = [
        e for e in history if e.get("within", {}).get("iteration") == 1 and e["step_id"] == "check"
    ]
    assert second_check["within"] == {"step_id": "each_doc", "iteration": 1, "item": documents[1]}
    order = [e["step_id"] for e in history]
    assert order.index("each_doc") < order.index("check") and order[-1] == "summary"


async def test_a_list_longer_than_max_items_fails_the_step_before_any_iteration(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        for_each(
            "each",
            "{{payload.items}}",
            step("t", "assign_task", title="x", assign_to="role:a"),
            max_items=2,
        ),
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"items": [1, 2, 3]}
    )
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "failed"
    assert result.error == (
        "Step 'each' (Each): 'items' holds 3 items, more than its max_items (2); no iteration ran."
    )
    assert [e["step_id"] for e in _execution(engine_services, execution_id).step_history] == [
        "start",
        "each",
    ]

    not_a_list = definition(for_each("each", "{{payload.items}}", step("t", "delay", seconds=0.1)))
    _, handle = await start(temporal_env.client, engine_queue, not_a_list, payload={"items": "abc"})
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "failed"
    assert result.error is not None and "'items' must render to a list, not 'abc'" in result.error


async def test_a_failing_iteration_fails_the_loop_naming_it(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        for_each(
            "each",
            "{{payload.dates}}",
            step(
                "task",
                "assign_task",
                title="Due {{loop.item}}",
                assign_to="role:a",
                due_date="{{loop.item}}",
            ),
        ),
    )
    dates = ["2030-01-01T00:00:00+00:00", "next week", "2030-01-03T00:00:00+00:00"]
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"dates": dates}
    )
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "failed"
    assert result.error == (
        "Step 'each' (Each): iteration 1 failed: Step 'task' (task): 'due_date' is 'next week', "
        "not an ISO-8601 date-time with a timezone."
    )
    execution = _execution(engine_services, execution_id)
    entries = [
        (e["step_id"], e["status"], e.get("within", {}).get("iteration"))
        for e in execution.step_history
    ]
    assert entries == [
        ("start", "completed", None),
        ("each", "failed", None),
        ("task", "completed", 0),
        ("task", "failed", 1),
    ]
    assert execution.step_history[-1]["error"] == result.error.split("iteration 1 failed: ")[1]


async def test_cancelling_mid_loop_closes_the_iteration_and_cancels_its_task(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        for_each(
            "each",
            ["a", "b"],
            step("review", "assign_task", title="Review {{loop.item}}", assign_to="role:a"),
            step("wait", "wait_for_task", task_from_step="review"),
        ),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    state = await until(
        handle,
        lambda s: (
            s.status == "waiting" and bool(s.branches) and s.branches[0].current_step_id == "wait"
        ),
    )
    assert state.branches[0].iteration == 0
    (task,) = state.tasks

    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="stop", actor="user:1"))
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "cancelled"
    assert engine_services.tasks.get_task(CTX, UUID(task.task_id)).status == "cancelled"
    entries = {
        e["step_id"]: e["status"] for e in _execution(engine_services, execution_id).step_history
    }
    assert entries == {
        "start": "completed",
        "each": "cancelled",
        "review": "completed",
        "wait": "cancelled",
    }


async def _runs(client: Client, workflow_id: str, first_run_id: str) -> list[str]:
    """The run ids of an execution, following continue-as-new from its first run."""
    runs = [first_run_id]
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=runs[-1]).fetch_history()
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return runs
        runs.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)


async def test_a_long_loop_continues_as_new_and_completes_with_every_output(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    client = temporal_env.client
    body = definition(
        for_each(
            "each",
            "{{payload.numbers}}",
            step("calc", "transform", expressions={"n": "loop.item", "i": "loop.index"}),
            max_items=300,
        ),
        step(
            "after",
            "transform",
            expressions={"total": "sum(each.outputs[].calc.n)", "count": "each.count"},
        ),
    )
    numbers = list(range(1000, 1300))
    execution_id, handle = await start(client, engine_queue, body, payload={"numbers": numbers})
    result = await asyncio.wait_for(handle.result(), 120)

    assert result.status == "completed", result.error
    assert handle.first_execution_run_id is not None
    runs = await _runs(client, handle.id, handle.first_execution_run_id)
    assert len(runs) == 3  # 100 iterations per run
    assert (await snapshot(handle)).runs == 3
    # The second run started from the first's progress, not from the beginning.
    second = await client.get_workflow_handle(handle.id, run_id=runs[1]).fetch_history()
    started = second.events[0].workflow_execution_started_event_attributes
    carried = ExecutionInput.model_validate_json(started.input.payloads[0].data)
    assert carried.state is not None and carried.state.loop is not None
    assert carried.state.loop.index == 100
    execution = _execution(engine_services, execution_id)
    outputs = execution.step_outputs
    assert outputs["after"] == {"total": sum(numbers), "count": 300}
    assert [o["calc"] for o in outputs["each"]["outputs"]] == [
        {"n": n, "i": i} for i, n in enumerate(numbers)
    ]
    iterations = [e["within"]["iteration"] for e in execution.step_history if "within" in e]
    assert iterations == list(range(300))
    names = event_types(engine_db, execution_id)
    # Each iteration recorded once, none lost or doubled across the runs.
    assert names.count("StepStarted(calc)") == names.count("StepCompleted(calc)") == 300
    assert names.count("StepStarted(each)") == names.count("StepCompleted(each)") == 1


async def test_a_worker_killed_mid_iteration_is_replaced_and_the_loop_goes_on(
    temporal_env: WorkflowEnvironment,
    engine_services: Services,
    engine_db: str,
) -> None:
    client = temporal_env.client
    queue = f"killed-loop-{uuid.uuid4().hex[:8]}"
    body = definition(
        for_each(
            "each",
            ["a", "b"],
            step("review", "assign_task", title="Review {{loop.item}}", assign_to="role:a"),
            step("wait", "wait_for_task", task_from_step="review"),
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
        first = await until(handle, lambda s: s.status == "waiting" and len(s.tasks) == 1, 20)
    finally:
        process.kill()  # SIGKILL: no graceful shutdown
        await process.wait()

    async with build_worker(client, engine_services, queue):
        await change_task(client, queue, first.tasks[0].task_id, status="done")
        second = await until(handle, lambda s: s.status == "waiting" and len(s.tasks) == 2, 30)
        (task,) = [t for t in second.tasks if t.task_id != first.tasks[0].task_id]
        assert task.title == "Review b"
        await change_task(client, queue, task.task_id, status="done")
        result = await asyncio.wait_for(handle.result(), 60)

    assert result.status == "completed"
    outputs = _execution(engine_services, execution_id).step_outputs["each"]["outputs"]
    assert [o["wait"]["task"]["status"] for o in outputs] == ["done", "done"]
    # Two iterations: each step's events twice, never more.
    assert all(row["n"] == 2 for row in duplicated_events(engine_db, [execution_id]))
    names = event_types(engine_db, execution_id)
    assert names.count("StepStarted(review)") == 2
    assert names.count("StepStarted(wait)") == 2


async def test_a_loop_that_would_carry_too_much_fails_with_the_reason(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
) -> None:
    body = definition(for_each("each", "{{payload.pages}}", step("t", "delay", seconds=0.1)))
    pages = ["x" * 400_000, "y" * 400_000, "z" * 400_000]
    _, handle = await start(temporal_env.client, engine_queue, body, payload={"pages": pages})
    result = await asyncio.wait_for(handle.result(), 30)

    assert result.status == "failed"
    assert result.error == (
        "Step 'each' (Each): its items and the outputs collected pass 1,000,000 bytes (after 0 "
        "of 3 iterations); a for_each carries at most that: loop over fewer items, or keep the "
        "steps' outputs smaller."
    )
