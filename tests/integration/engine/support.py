"""Helpers for driving executions through a real worker and reading what they recorded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from temporalio.client import Client, WorkflowHandle

from domain.definition_validation import parse_definition
from projections.personal import KEY_COLUMNS, KEY_JOIN, reveal_item
from worker.contracts import (
    EXECUTION_WORKFLOW,
    STATE_QUERY,
    TASK_COMMAND_WORKFLOW,
    CommandMeta,
    CommandResult,
    ExecutionInput,
    ExecutionResult,
    ExecutionSnapshot,
    TaskCommand,
    execution_workflow_id,
)

META = CommandMeta(org_id="org_e", actor="user:7", source="test", correlation_id="corr-e")

Handle = WorkflowHandle[Any, ExecutionResult]


def definition(
    *steps: dict[str, Any],
    statuses: list[str] | None = None,
    trigger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A validated, normalised definition body (as a version stores it) from its steps."""
    body: dict[str, Any] = {
        "name": "Engine test",
        "statuses": [{"id": s, "label": s.title()} for s in (statuses or [])],
        "steps": [
            {
                "id": "start",
                "type": "trigger",
                "name": "Start",
                "config": trigger or {"type": "manual"},
            },
            *steps,
        ],
    }
    return parse_definition(body).to_dict()


def step(step_id: str, step_type: str, **config: Any) -> dict[str, Any]:
    nxt = config.pop("next_", None)
    body: dict[str, Any] = {"id": step_id, "type": step_type, "name": step_id, "config": config}
    if nxt is not None:
        body["next"] = nxt
    return body


async def start(
    client: Client,
    task_queue: str,
    body: dict[str, Any],
    *,
    payload: dict[str, Any] | None = None,
    contact: dict[str, Any] | None = None,
    contact_id: str | None = None,
    input: dict[str, Any] | None = None,
    history_limit: int | None = None,
    contact_from_trigger: bool = False,
    task_timeout: timedelta | None = None,
) -> tuple[str, Handle]:
    """Start an execution of `body`; its contact is `contact_id`, else `contact`, else (with
    `contact_from_trigger`) the trigger's mapping, else a contact named Ada."""
    execution_id = str(uuid.uuid4())
    if contact is None and contact_id is None and not contact_from_trigger:
        contact = {"first_name": "Ada"}
    extra: dict[str, Any] = {} if history_limit is None else {"history_limit": history_limit}
    handle: Handle = await client.start_workflow(
        EXECUTION_WORKFLOW,
        ExecutionInput(
            meta=META,
            execution_id=execution_id,
            definition_id=str(uuid.uuid4()),
            definition_version=1,
            definition=body,
            contact_id=contact_id,
            contact=contact,
            input=input or {},
            payload=payload or {},
            **extra,
        ),
        id=execution_workflow_id(execution_id),
        task_queue=task_queue,
        result_type=ExecutionResult,
        task_timeout=task_timeout,
    )
    return execution_id, handle


async def snapshot(handle: Handle) -> ExecutionSnapshot:
    state: ExecutionSnapshot = await handle.query(STATE_QUERY, result_type=ExecutionSnapshot)
    return state


async def until(
    handle: Handle, check: Callable[[ExecutionSnapshot], bool], timeout: float = 10.0
) -> ExecutionSnapshot:
    """Poll the `state` query until `check` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await snapshot(handle)
        if check(state):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"execution never reached the expected state; last: {state}")
        await asyncio.sleep(0.05)


async def waiting_at(handle: Handle, step_id: str, timeout: float = 10.0) -> ExecutionSnapshot:
    return await until(
        handle, lambda s: s.waiting is not None and s.waiting.step_id == step_id, timeout
    )


async def change_task(
    client: Client, task_queue: str, task_id: str, **changes: Any
) -> CommandResult:
    """PATCH /tasks/{id} as the API does it: through TaskCommandWorkflow."""
    result: CommandResult = await client.execute_workflow(
        TASK_COMMAND_WORKFLOW,
        TaskCommand(meta=META, action="update", task_id=task_id, changes=changes),
        id=f"task-update-{uuid.uuid4()}",
        task_queue=task_queue,
        result_type=CommandResult,
    )
    return result


def events(url: str, aggregate_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of `events`, `data` with its personal attributes opened (projections/personal)."""
    query = f"SELECT events.*, {KEY_COLUMNS} FROM events{KEY_JOIN}"
    with psycopg.connect(url, row_factory=dict_row) as conn:
        if aggregate_id is None:
            rows = conn.execute(f"{query} ORDER BY position").fetchall()
        else:
            rows = conn.execute(
                f"{query} WHERE originator_id = %s ORDER BY position", (aggregate_id,)
            ).fetchall()
    return [{**row, "data": reveal_item(row)} for row in rows]


def event_types(url: str, aggregate_id: str) -> list[str]:
    """`WorkflowExecution.StepStarted` → `StepStarted(step_id)` for short, readable asserts."""
    shown = []
    for row in events(url, aggregate_id):
        name = row["event_type"].split(".", 1)[1]
        step_id = row["data"].get("step_id")
        shown.append(f"{name}({step_id})" if step_id else name)
    return shown


def duplicated_events(url: str, aggregate_ids: list[str]) -> list[dict[str, Any]]:
    """Events recorded more than once for the same aggregate, type and step."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT originator_id, event_type, data->>'step_id' AS step_id, count(*) AS n"
            " FROM events WHERE originator_id = ANY(%s::uuid[])"
            " GROUP BY originator_id, event_type, data->>'step_id' HAVING count(*) > 1",
            (aggregate_ids,),
        ).fetchall()
