"""``/executions`` commands: start one, signal it, cancel it.

Executions run for days, so unlike the other commands these routes do not wait for the
workflow's result: they answer once Temporal has the workflow (or the signal). ``?wait=true`` on
a start waits until the executions read model shows the new execution.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from interfaces.api.auth import Principal
from interfaces.api.commands import IDEMPOTENCY_NAMESPACE, command_meta
from interfaces.api.context import ApiContext
from interfaces.api.deps import Context, IdempotencyKey, WaitOption, WorkActor
from interfaces.api.problems import CONFLICT, NOT_VISIBLE_YET, VALIDATION, ProblemError
from interfaces.api.routers.common import API_PREFIX, COMMAND_RESPONSES, not_found, path_of
from interfaces.api.schemas.execution_commands import ExecutionCancel, ExecutionCreate
from interfaces.api.schemas.executions import ExecutionPublic
from projections.queries import get_contact, get_definition, get_execution
from worker.contracts import (
    CANCEL_SIGNAL,
    EXECUTION_WORKFLOW,
    NAMED_SIGNAL,
    CancelRequest,
    ExecutionInput,
    NamedSignal,
    execution_workflow_id,
)

router = APIRouter(prefix=API_PREFIX, tags=["executions"])

TERMINAL = frozenset({"completed", "failed", "cancelled", "timed_out"})
SIGNAL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
POLL_INTERVAL = 0.02


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        message,
        type_=VALIDATION,
        title="Validation failed",
        errors=[{"field": field, "message": message, "location": "body"}],
    )


def read_with(context: ApiContext, read: Any) -> Any:
    with context.pool.connection() as conn:
        return read(conn)


def definition_body(row: dict[str, Any]) -> dict[str, Any]:
    """The normalised version body the execution keeps for its whole life."""
    return {
        "name": row["name"],
        "description": row.get("description"),
        "statuses": row.get("statuses") or [],
        "steps": row.get("steps") or [],
    }


async def start_execution(
    client: Client,
    task_queue: str,
    execution: ExecutionInput,
    *,
    once: bool,
) -> bool:
    """Start the execution's workflow; False when ``once`` and it had been started before."""
    workflow_id = execution_workflow_id(execution.execution_id)
    try:
        await client.start_workflow(
            EXECUTION_WORKFLOW,
            execution,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=(
                WorkflowIDReusePolicy.REJECT_DUPLICATE
                if once
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE
            ),
        )
    except WorkflowAlreadyStartedError:
        if once:
            return False
        raise
    return True


async def wait_until_visible(
    context: ApiContext, org_id: str, execution_id: str, timeout: float
) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        row = await run_in_threadpool(
            read_with, context, lambda conn: get_execution(conn, org_id, execution_id)
        )
        if row is not None or time.monotonic() >= deadline:
            return row  # type: ignore[no-any-return]
        await asyncio.sleep(POLL_INTERVAL)


@router.post(
    "/executions",
    name="start_execution",
    status_code=202,
    response_model=None,
    responses={**COMMAND_RESPONSES, 201: {"model": ExecutionPublic}},
)
async def start_execution_route(
    body: ExecutionCreate,
    caller: WorkActor,
    request: Request,
    context: Context,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    org_id = caller.org_id
    definition = await run_in_threadpool(
        read_with, context, lambda conn: get_definition(conn, org_id, body.definition_id)
    )
    if definition is None:
        raise _invalid("definition_id", f"definition {body.definition_id} was not found.")
    if not definition["is_active"]:
        raise ProblemError(
            409,
            f"definition {body.definition_id} is not active; activate it before running it.",
            type_=CONFLICT,
        )
    if body.contact_id is not None and body.contact is not None:
        raise _invalid("contact", "give contact_id or contact, not both.")
    if body.contact_id is not None:
        contact_id = body.contact_id
        found = await run_in_threadpool(
            read_with, context, lambda conn: get_contact(conn, org_id, contact_id)
        )
        if found is None:
            raise _invalid("contact_id", f"contact {body.contact_id} was not found.")

    execution_id = (
        uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{org_id}\x1fexecution.start\x1f{idempotency_key}")
        if idempotency_key is not None
        else uuid.uuid4()
    )
    execution = ExecutionInput(
        meta=command_meta(request, caller),
        execution_id=str(execution_id),
        definition_id=str(body.definition_id),
        definition_version=int(definition["definition_version"]),
        definition=definition_body(definition),
        contact_id=str(body.contact_id) if body.contact_id else None,
        contact=body.contact.model_dump(mode="json", exclude_none=True) if body.contact else None,
        input=body.input,
        trigger={"type": "manual", "actor": caller.actor},
    )
    await start_execution(
        context.require_temporal(),
        context.settings.temporal_task_queue,
        execution,
        once=idempotency_key is not None,
    )
    workflow_id = execution_workflow_id(execution.execution_id)
    location = path_of(request, "get_execution", execution_id=execution.execution_id)
    headers = {"X-Workflow-Id": workflow_id, "Location": location}
    if not wait.enabled:
        return JSONResponse(
            {"workflow_id": workflow_id, "id": execution.execution_id},
            status_code=202,
            headers=headers,
        )
    row = await wait_until_visible(context, org_id, execution.execution_id, wait.timeout)
    if row is None:
        raise ProblemError(
            504,
            "The execution was started but is not visible yet; read it again later.",
            type_=NOT_VISIBLE_YET,
            title="Not visible yet",
            extra={"workflow_id": workflow_id, "id": execution.execution_id},
        )
    resource = ExecutionPublic.model_validate(row).model_dump(mode="json")
    return JSONResponse(resource, status_code=201, headers=headers)


async def _running_execution(
    context: ApiContext, caller: Principal, execution_id: str
) -> dict[str, Any]:
    row = await run_in_threadpool(
        read_with, context, lambda conn: get_execution(conn, caller.org_id, execution_id)
    )
    if row is None:
        raise not_found("execution", execution_id)
    if row["status"] in TERMINAL:
        raise ProblemError(
            409, f"execution {execution_id} is already {row['status']}.", type_=CONFLICT
        )
    return row  # type: ignore[no-any-return]


async def _signal(
    context: ApiContext, execution_id: str, signal: str, argument: Any
) -> JSONResponse:
    workflow_id = execution_workflow_id(execution_id)
    handle = context.require_temporal().get_workflow_handle(workflow_id)
    try:
        await handle.signal(signal, argument)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise ProblemError(
                409, f"execution {execution_id} is no longer running.", type_=CONFLICT
            ) from None
        raise
    return JSONResponse(
        {"workflow_id": workflow_id, "id": execution_id},
        status_code=202,
        headers={"X-Workflow-Id": workflow_id},
    )


@router.post(
    "/executions/{execution_id}/signals/{name}",
    name="signal_execution",
    status_code=202,
    response_model=None,
    responses=COMMAND_RESPONSES,
)
async def signal_execution_route(
    execution_id: str,
    name: Annotated[str, Path(max_length=100)],
    caller: WorkActor,
    context: Context,
    payload: Annotated[Any, Body()] = None,
) -> JSONResponse:
    """Wakes a `wait_for_signal` step with this name (kept until the step is reached)."""
    if not SIGNAL_NAME.match(name):
        raise ProblemError(
            422,
            "A signal name is 1-100 letters, digits, '_', '.' or '-'.",
            type_=VALIDATION,
            title="Validation failed",
            errors=[{"field": "name", "message": "invalid signal name", "location": "path"}],
        )
    row = await _running_execution(context, caller, execution_id)
    data = payload if isinstance(payload, dict) else ({} if payload is None else {"value": payload})
    return await _signal(
        context, str(row["id"]), NAMED_SIGNAL, NamedSignal(name=name, payload=data)
    )


@router.post(
    "/executions/{execution_id}/cancel",
    name="cancel_execution",
    status_code=202,
    response_model=None,
    responses=COMMAND_RESPONSES,
)
async def cancel_execution_route(
    execution_id: str,
    caller: WorkActor,
    context: Context,
    body: ExecutionCancel | None = None,
) -> JSONResponse:
    """Cancels the execution and its open tasks, recording who did it and why."""
    row = await _running_execution(context, caller, execution_id)
    request = CancelRequest(reason=body.reason if body else None, actor=caller.actor)
    return await _signal(context, str(row["id"]), CANCEL_SIGNAL, request)
