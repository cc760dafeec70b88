"""Executions survive their worker: stopped, killed mid-flight, or replaying from scratch; long
loops continue as new; a retried activity appends nothing twice."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.delivery.outbound import ALLOW_LOOPBACK
from application.metadata import CommandContext
from tests.integration.engine.support import (
    META,
    change_task,
    definition,
    duplicated_events,
    event_types,
    events,
    snapshot,
    start,
    step,
    waiting_at,
)
from worker.activities.execution import ExecutionActivities
from worker.contracts import NAMED_SIGNAL, NamedSignal
from worker.main import build_worker
from worker.step_calls import (
    AssignTaskStep,
    BeginExecution,
    FinishExecution,
    RecordStep,
    StepDone,
    StepRef,
    Wait,
)

CTX = CommandContext(org_id="org_e", command_id="reader")
ROOT = Path(__file__).resolve().parents[3]


def _review() -> dict[str, Any]:
    return definition(
        step("assign", "assign_task", title="Review {{contact.first_name}}", assign_to="role:a"),
        step("wait", "wait_for_task", task_from_step="assign"),
        step("status", "update_status", status="{{wait.task.metadata.outcome}}"),
        step("mark", "update_contact", fields={"fields.reviewed": True}),
        statuses=["approved"],
    )


REVIEW_EVENTS = [
    "Created",
    "Started",
    "StepStarted(start)",
    "StepCompleted(start)",
    "StepStarted(assign)",
    "StepCompleted(assign)",
    "StepStarted(wait)",
    "Waiting(wait)",
    "StepCompleted(wait)",
    "StepStarted(status)",
    "UiStatusChanged(status)",
    "StepCompleted(status)",
    "StepStarted(mark)",
    "StepCompleted(mark)",
    "Completed",
]


async def test_executions_waiting_when_their_worker_stops_finish_on_a_new_worker(
    temporal_env: WorkflowEnvironment, engine_services: Services, engine_db: str
) -> None:
    client = temporal_env.client
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    # Short sticky and workflow-task timeouts: the tasks that the server hands to the stopped
    # worker (its cache's sticky queue, its last long polls) move on after seconds, not tens.
    first = build_worker(
        client,
        engine_services,
        queue,
        sticky_queue_timeout=timedelta(seconds=1),
        outbound=ALLOW_LOOPBACK,
    )
    async with first:
        started = [
            await start(client, queue, _review(), task_timeout=timedelta(seconds=2))
            for _ in range(4)
        ]
        for _, handle in started:
            await waiting_at(handle, "wait")
    ids = [execution_id for execution_id, _ in started]
    task_ids = [
        engine_services.executions.get_execution(CTX, UUID(execution_id)).step_outputs["assign"][
            "task"
        ]["id"]
        for execution_id in ids
    ]

    # A new worker that remembers nothing: every workflow task replays its whole history.
    async with build_worker(
        client, engine_services, queue, max_cached_workflows=0, outbound=ALLOW_LOOPBACK
    ):
        for task_id in task_ids:
            await change_task(
                client, queue, task_id, status="done", metadata={"outcome": "approved"}
            )
        results = await asyncio.gather(*(handle.result() for _, handle in started))

    assert {result.status for result in results} == {"completed"}
    for execution_id in ids:
        assert event_types(engine_db, execution_id) == REVIEW_EVENTS
    assert duplicated_events(engine_db, ids + task_ids) == []


def _busy() -> dict[str, Any]:
    return definition(
        step("assign", "assign_task", title="T", assign_to="role:a"),
        step("urgent", "update_task", task_from_step="assign", updates={"priority": "high"}),
        step("s1", "update_status", status="one"),
        step("pause", "delay", seconds=1),
        step("mark", "update_contact", fields={"fields.n": 1}),
        step("close", "complete_task", task_from_step="assign", outcome="approved"),
        step("wait", "wait_for_task", task_from_step="assign"),
        step("s2", "update_status", status="two"),
        statuses=["one", "two"],
    )


BUSY_EVENTS = [
    "Created",
    "Started",
    "StepStarted(start)",
    "StepCompleted(start)",
    *("StepStarted(assign)", "StepCompleted(assign)"),
    *("StepStarted(urgent)", "StepCompleted(urgent)"),
    *("StepStarted(s1)", "UiStatusChanged(s1)", "StepCompleted(s1)"),
    *("StepStarted(pause)", "Waiting(pause)", "StepCompleted(pause)"),
    *("StepStarted(mark)", "StepCompleted(mark)"),
    *("StepStarted(close)", "StepCompleted(close)"),
    # The task is already done (complete_task): the wait completes without waiting.
    *("StepStarted(wait)", "StepCompleted(wait)"),
    *("StepStarted(s2)", "UiStatusChanged(s2)", "StepCompleted(s2)"),
    "Completed",
]


async def test_a_worker_killed_mid_flight_loses_nothing_and_duplicates_nothing(
    temporal_env: WorkflowEnvironment, engine_services: Services, engine_db: str
) -> None:
    client = temporal_env.client
    queue = f"killed-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.engine.worker_process",
        engine_db,
        address,
        queue,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"ready"
        started = [
            await start(client, queue, _busy(), task_timeout=timedelta(seconds=2)) for _ in range(6)
        ]
        await asyncio.sleep(0.7)  # some are mid-step, most are in their one-second delay
    finally:
        process.kill()  # SIGKILL: no graceful shutdown, in-flight work is simply gone
        await process.wait()

    async with build_worker(client, engine_services, queue, outbound=ALLOW_LOOPBACK):
        results = await asyncio.wait_for(
            asyncio.gather(*(handle.result() for _, handle in started)), 30
        )

    assert {(result.status, result.ui_status) for result in results} == {("completed", "two")}
    ids = [execution_id for execution_id, _ in started]
    for execution_id in ids:
        assert event_types(engine_db, execution_id) == BUSY_EVENTS
    assert duplicated_events(engine_db, ids) == []


def _loop() -> dict[str, Any]:
    return definition(
        step("tick", "wait_for_signal", signal="tick"),
        step(
            "check",
            "condition",
            field="{{tick.payload.more}}",
            branches=[{"if": True, "then_goto": "count"}],
            default="end",
        ),
        step(
            "count", "update_contact", fields={"fields.count": "{{tick.payload.n}}"}, next_="tick"
        ),
    )


async def test_a_looping_execution_continues_as_new_and_keeps_its_state(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    client = temporal_env.client
    loops = 25
    execution_id, handle = await start(client, engine_queue, _loop(), history_limit=40)
    for n in range(1, loops + 1):
        await handle.signal(NAMED_SIGNAL, NamedSignal(name="tick", payload={"more": True, "n": n}))
        if n % 5 == 0:
            await waiting_at(handle, "tick")
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="tick", payload={"more": False}))

    result = await handle.result()

    assert result.status == "completed"
    assert (await snapshot(handle)).runs >= 2
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    contact = engine_services.contacts.get_contact(CTX, UUID(execution.contact_id))
    assert contact.fields == {"count": loops}
    completed = [
        row["data"]["step_id"]
        for row in events(engine_db, execution_id)
        if row["event_type"].endswith("StepCompleted")
    ]
    assert completed.count("tick") == loops + 1
    assert completed.count("count") == loops
    runs = {row["workflow_run_id"] for row in events(engine_db, execution_id)}
    assert len(runs) >= 2


async def test_a_step_activity_run_twice_records_its_step_once(
    engine_services: Services, engine_db: str
) -> None:
    """What Temporal does when an attempt's completion is lost: the same call runs again."""
    env = ActivityEnvironment()
    workflow_id = f"execution-{uuid.uuid4()}"
    env.info = dataclasses.replace(
        env.info, workflow_id=workflow_id, workflow_run_id="run-1", activity_id="1"
    )
    activities = ExecutionActivities(engine_services)
    execution_id = str(uuid.uuid4())
    begin = BeginExecution(
        meta=META,
        execution_id=execution_id,
        command_key="begin",
        definition_id=str(uuid.uuid4()),
        definition_version=1,
        contact={"first_name": "Ada"},
        trigger_step=StepRef(id="start", type="trigger", name="Start"),
    )
    assign = AssignTaskStep(
        meta=META,
        execution_id=execution_id,
        command_key="1-assign/assign",
        step=StepRef(id="assign", type="assign_task", name="Assign"),
        title="Review",
        assigned_to="role:a",
    )

    assert env.run(activities.begin_execution, begin) == env.run(activities.begin_execution, begin)
    first = env.run(activities.assign_task_step, assign)
    second = env.run(activities.assign_task_step, assign)

    assert first == second
    task_id = first.output["task"]["id"]
    assert event_types(engine_db, execution_id) == [
        "Created",
        "Started",
        "StepStarted(start)",
        "StepCompleted(start)",
        "StepStarted(assign)",
        "StepCompleted(assign)",
    ]
    assert [row["event_type"] for row in events(engine_db, task_id)] == ["Task.Assigned"]


async def test_steps_carried_by_a_call_run_twice_are_recorded_once_at_their_own_time(
    engine_services: Services, engine_db: str
) -> None:
    """The steps a call carries (`before`) share its command id: a retried call adds nothing,
    and each carried step keeps the time it ran in the workflow."""
    env = ActivityEnvironment()
    workflow_id = f"execution-{uuid.uuid4()}"
    env.info = dataclasses.replace(
        env.info, workflow_id=workflow_id, workflow_run_id="run-1", activity_id="1"
    )
    activities = ExecutionActivities(engine_services)
    execution_id = str(uuid.uuid4())
    begin = BeginExecution(
        meta=META,
        execution_id=execution_id,
        command_key="begin",
        definition_id=str(uuid.uuid4()),
        definition_version=1,
        contact={"first_name": "Ada"},
        trigger_step=StepRef("start", "trigger", "Start"),
    )
    ran_at = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    carried = [
        StepDone(
            step=StepRef("route", "condition", "Route"),
            at=ran_at,
            output={"value": 7, "branch": "review", "matched": 0},
        ),
        StepDone(
            step=StepRef("status", "update_status", "In review"),
            at=ran_at,
            output={"ui_status": "in_review", "previous": None},
            ui_status="in_review",
        ),
    ]
    wait = RecordStep(
        meta=META,
        execution_id=execution_id,
        command_key="3-pause/wait",
        step=StepRef("pause", "wait_for_signal", "Pause"),
        wait=Wait("signal", step_id="pause", signal="go"),
        before=carried,
    )

    env.run(activities.begin_execution, begin)
    env.run(activities.record_step, wait)
    env.run(activities.record_step, wait)

    assert event_types(engine_db, execution_id)[4:] == [
        "StepStarted(route)",
        "StepCompleted(route)",
        "StepStarted(status)",
        "UiStatusChanged(status)",
        "StepCompleted(status)",
        "StepStarted(pause)",
        "Waiting(pause)",
    ]
    execution = engine_services.executions.get_execution(
        CommandContext(org_id="org_e", command_id="reader"), UUID(execution_id)
    )
    assert execution.ui_status == "in_review"
    route = [entry for entry in execution.step_history if entry["step_id"] == "route"]
    assert [(entry["status"], entry["output"]) for entry in route] == [
        ("completed", {"value": 7, "branch": "review", "matched": 0})
    ]
    assert route[0]["started_at"] == route[0]["completed_at"] == ran_at.isoformat()


async def test_a_finish_records_steps_of_a_cancelled_call_only_if_that_call_did_not(
    engine_services: Services, engine_db: str
) -> None:
    """A cancelled call may have saved its steps or not; the finish carries them again marked
    `maybe_recorded` and records only the ones missing."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=f"execution-{uuid.uuid4()}", workflow_run_id="r", activity_id="1"
    )
    activities = ExecutionActivities(engine_services)
    execution_id = str(uuid.uuid4())
    ran_at = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    saved = StepDone(step=StepRef("saved", "condition", "Saved"), at=ran_at, output={"n": 1})
    lost = StepDone(step=StepRef("lost", "condition", "Lost"), at=ran_at, output={"n": 2})
    env.run(
        activities.begin_execution,
        BeginExecution(
            meta=META,
            execution_id=execution_id,
            command_key="begin",
            definition_id=str(uuid.uuid4()),
            definition_version=1,
            contact={"first_name": "Ada"},
            trigger_step=StepRef("start", "trigger", "Start"),
        ),
    )
    env.run(
        activities.record_step,
        RecordStep(
            meta=META,
            execution_id=execution_id,
            command_key="2-pause/wait",
            step=StepRef("pause", "delay", "Pause"),
            wait=Wait("delay", step_id="pause"),
            before=[saved],
        ),
    )

    env.run(
        activities.finish_execution,
        FinishExecution(
            meta=META,
            execution_id=execution_id,
            command_key="3-finish",
            outcome="cancelled",
            before=[
                saved.model_copy(update={"maybe_recorded": True}),
                lost.model_copy(update={"maybe_recorded": True}),
            ],
        ),
    )

    assert event_types(engine_db, execution_id)[4:] == [
        "StepStarted(saved)",
        "StepCompleted(saved)",
        "StepStarted(pause)",
        "Waiting(pause)",
        "StepStarted(lost)",
        "StepCompleted(lost)",
        "Cancelled",
    ]
