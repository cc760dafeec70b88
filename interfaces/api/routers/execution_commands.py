"""``/executions`` commands: start one, signal it, cancel it.

Executions run for days, so unlike the other commands these routes do not wait for the
workflow's result: they answer once Temporal has the workflow (or the signal). ``?wait=true`` on
a start waits until the executions read model shows the new execution.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from interfaces.api.auth import Principal
from interfaces.api.commands import CommandGateway, ReadBack, command_meta
from interfaces.api.deps import Commands, IdempotencyKey, WaitOption, WorkActor
from interfaces.api.problems import conflict, invalid, not_found
from interfaces.api.responses import API_PREFIX, COMMAND_RESPONSES, path_of, respond
from interfaces.api.schemas.execution_commands import ExecutionCancel, ExecutionCreate
from interfaces.api.schemas.executions import ExecutionPublic
from projections.queries import get_contact, get_definition, get_execution
from worker.contracts import CANCEL_SIGNAL, NAMED_SIGNAL, CancelRequest, NamedSignal
from worker.starts import Origin, execution_input

router = APIRouter(prefix=API_PREFIX, tags=["executions"])

TERMINAL = frozenset({"completed", "failed", "cancelled", "timed_out"})
SIGNAL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def execution_read_back(request: Request, org_id: str, execution_id: str) -> ReadBack:
    return ReadBack(
        projection="executions",
        read=lambda conn: get_execution(conn, org_id, execution_id),
        public=ExecutionPublic,
        location=path_of(request, "get_execution", execution_id=execution_id),
    )


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
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    org_id, definition_id = caller.org_id, str(body.definition_id)
    definition = await run_in_threadpool(
        commands.read, lambda conn: get_definition(conn, org_id, definition_id)
    )
    if definition is None:
        raise invalid("definition_id", f"definition {definition_id} was not found.")
    if not definition["is_active"]:
        raise conflict(f"definition {definition_id} is not active; activate it before running it.")
    if body.contact_id is not None and body.contact is not None:
        raise invalid("contact", "give contact_id or contact, not both.")
    contact_id = str(body.contact_id) if body.contact_id is not None else None
    if contact_id is not None:
        found = await run_in_threadpool(
            commands.read, lambda conn: get_contact(conn, org_id, contact_id)
        )
        if found is None:
            raise invalid("contact_id", f"contact {contact_id} was not found.")

    origin = Origin("api", scope=org_id, key=idempotency_key)
    execution = execution_input(
        meta=command_meta(request, caller),
        execution_id=origin.execution_id(),
        definition_id=definition_id,
        definition_version=int(definition["definition_version"]),
        definition=definition,
        trigger={"type": "manual", "actor": caller.actor},
        contact_id=contact_id,
        contact=body.contact.model_dump(mode="json", exclude_none=True) if body.contact else None,
        input=body.input,
    )
    read_back = execution_read_back(request, org_id, execution.execution_id)
    outcome = await commands.start(execution, origin, wait=wait, read_back=read_back)
    # A repeated Idempotency-Key answers as the first request did, not as a duplicate.
    return respond(outcome if not outcome.duplicate else replace(outcome, duplicate=False))


async def _running_execution(
    commands: CommandGateway, caller: Principal, execution_id: str
) -> dict[str, Any]:
    row: dict[str, Any] | None = await run_in_threadpool(
        commands.read, lambda conn: get_execution(conn, caller.org_id, execution_id)
    )
    if row is None:
        raise not_found("execution", execution_id)
    if row["status"] in TERMINAL:
        raise conflict(f"execution {execution_id} is already {row['status']}.")
    return row


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
    commands: Commands,
    payload: Annotated[Any, Body()] = None,
) -> JSONResponse:
    """Wakes a `wait_for_signal` step with this name (kept until the step is reached)."""
    if not SIGNAL_NAME.match(name):
        raise invalid(
            "name", "A signal name is 1-100 letters, digits, '_', '.' or '-'.", location="path"
        )
    row = await _running_execution(commands, caller, execution_id)
    data = payload if isinstance(payload, dict) else ({} if payload is None else {"value": payload})
    signal = NamedSignal(name=name, payload=data)
    return respond(await commands.signal(str(row["id"]), NAMED_SIGNAL, signal))


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
    commands: Commands,
    body: ExecutionCancel | None = None,
) -> JSONResponse:
    """Cancels the execution and its open tasks, recording who did it and why."""
    row = await _running_execution(commands, caller, execution_id)
    request = CancelRequest(reason=body.reason if body else None, actor=caller.actor)
    return respond(await commands.signal(str(row["id"]), CANCEL_SIGNAL, request))
