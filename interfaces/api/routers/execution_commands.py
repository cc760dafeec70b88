"""``/executions`` commands: start one, signal it, cancel it, retry or skip a parked step,
retry a failed or timed-out execution.

Executions run for days, so unlike the other commands these routes do not wait for the
workflow's result: they answer once Temporal has the workflow (or the signal). ``?wait=true`` on
a start waits until the executions read model shows the new execution.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.definition_model import Definition, nested_steps
from interfaces.api.auth import Principal
from interfaces.api.commands import CommandGateway, Outcome, ReadBack, command_meta
from interfaces.api.deps import Caller, Commands, Context, IdempotencyKey, WaitOption, WorkActor
from interfaces.api.problems import FORBIDDEN, ProblemError, conflict, invalid, not_found
from interfaces.api.responses import API_PREFIX, COMMAND_RESPONSES, path_of, respond
from interfaces.api.schemas.execution_commands import (
    ExecutionCancel,
    ExecutionCreate,
    ExecutionRetry,
)
from interfaces.api.schemas.executions import ExecutionPublic, ParkedStepRequest
from projections.queries import get_contact, get_definition, get_execution
from worker.contracts import (
    CANCEL_SIGNAL,
    NAMED_SIGNAL,
    PARKED_STEP_SIGNAL,
    CancelRequest,
    NamedSignal,
    ParkedStepAction,
    RetryRequest,
)
from worker.starts import Origin, definition_body, execution_input, retry_execution

router = APIRouter(prefix=API_PREFIX, tags=["executions"])

TERMINAL = frozenset(
    {"completed", "failed", "cancelled", "timed_out", "compensated", "compensation_failed"}
)
SIGNAL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


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


async def require_admin(principal: Caller) -> Principal:
    """Only an org's admins and owners decide what becomes of a parked step."""
    if not principal.can_manage:
        raise ProblemError(
            403,
            f"The {principal.role} role cannot retry or skip a step; an org's admins and "
            "owners can.",
            type_=FORBIDDEN,
            title="Forbidden",
        )
    return principal


ExecutionAdmin = Annotated[Principal, Depends(require_admin)]


async def _resolve_parked(
    commands: CommandGateway,
    caller: Principal,
    execution_id: str,
    step_id: str,
    action: Literal["retry", "skip"],
    body: ParkedStepRequest | None,
) -> JSONResponse:
    if not STEP_ID.match(step_id):
        raise invalid("step_id", "A step id is 1-100 letters, digits, '_' or '-'.", location="path")
    row = await _running_execution(commands, caller, execution_id)
    parked_on = row["current_step_id"] if row["status"] == "needs_attention" else None
    if parked_on != step_id:
        where = (
            f"it is parked on step {parked_on!r}"
            if parked_on is not None
            else f"it is {row['status']}"
        )
        raise conflict(
            f"execution {execution_id} is not waiting for attention on step {step_id!r}: {where}."
        )
    signal = ParkedStepAction(
        step_id=step_id,
        action=action,
        actor=caller.actor,
        reason=body.reason if body else None,
    )
    return respond(await commands.signal(str(row["id"]), PARKED_STEP_SIGNAL, signal))


@router.post(
    "/executions/{execution_id}/steps/{step_id}/retry",
    name="retry_parked_step",
    status_code=202,
    response_model=None,
    responses=COMMAND_RESPONSES,
)
async def retry_parked_step_route(
    execution_id: str,
    step_id: Annotated[str, Path(max_length=100)],
    caller: ExecutionAdmin,
    commands: Commands,
    body: ParkedStepRequest | None = None,
) -> JSONResponse:
    """Runs the step the execution is parked on (`on_failure: park`) again."""
    return await _resolve_parked(commands, caller, execution_id, step_id, "retry", body)


@router.post(
    "/executions/{execution_id}/steps/{step_id}/skip",
    name="skip_parked_step",
    status_code=202,
    response_model=None,
    responses=COMMAND_RESPONSES,
)
async def skip_parked_step_route(
    execution_id: str,
    step_id: Annotated[str, Path(max_length=100)],
    caller: ExecutionAdmin,
    commands: Commands,
    body: ParkedStepRequest | None = None,
) -> JSONResponse:
    """Goes on after the step the execution is parked on, as if it had not run."""
    return await _resolve_parked(commands, caller, execution_id, step_id, "skip", body)


# Why an execution in each state cannot be retried (only failed and timed-out ones can).
_NOT_RETRYABLE = {
    "completed": "it completed",
    "cancelled": "it was cancelled on purpose; start a new execution instead",
    "compensated": (
        "its completed steps were undone (compensated), so running the rest would act on what "
        "was undone; start a new execution instead"
    ),
    "compensation_failed": (
        "compensation began (some of its steps were undone and one could not be), so running "
        "the rest would act on a half-undone state; start a new execution instead"
    ),
}


def _retry_step(definition: Definition, row: dict[str, Any], asked: str | None) -> str:
    """The step a retry runs again from: the one asked for, else the one the execution ended on
    (a step inside a container: the container). 422 for a step the run order cannot restart
    at: unknown, the trigger, inside a parallel or for_each step, a compensation."""
    top = {step.id: step for step in definition.steps}
    containers = {inner.id: step.id for step in definition.steps for inner in nested_steps(step)}
    if asked is None:
        ended_on: str | None = row["current_step_id"]
        if ended_on is None:
            raise invalid(
                "from_step",
                "the execution did not end on a step; name the step to run again from.",
            )
        step_id = containers.get(ended_on, ended_on)
        field = "from_step"
    else:
        step_id, field = asked, "from_step"
        if asked in containers:
            raise invalid(
                field,
                f"step {asked!r} is inside the {top[containers[asked]].type} step "
                f"{containers[asked]!r}: a retry runs a container step again as a whole; "
                f"retry from {containers[asked]!r}.",
            )
    if step_id not in top:
        known = ", ".join(step.id for step in definition.steps[1:])
        raise invalid(
            field,
            f"step {step_id!r} is not a step of version {row['definition_version']} of the "
            f"definition (or is a compensation, which never runs on its own); its steps are: "
            f"{known}.",
        )
    if step_id == definition.trigger.id:
        raise invalid(
            field,
            f"step {step_id!r} is the trigger: the execution could not start, so there is "
            "nothing to retry; start a new execution instead.",
        )
    return step_id


@router.post(
    "/executions/{execution_id}/retry",
    name="retry_execution",
    status_code=202,
    response_model=None,
    responses=COMMAND_RESPONSES,
)
async def retry_execution_route(
    execution_id: str,
    caller: WorkActor,
    request: Request,
    commands: Commands,
    context: Context,
    body: ExecutionRetry | None = None,
) -> JSONResponse:
    """Runs a failed or timed-out execution again from a step (default: the one it ended on):
    the same execution, its contact and its step outputs so far, on the same definition
    version, in a new run of its workflow; recorded with who asked and why."""
    row: dict[str, Any] | None = await run_in_threadpool(
        commands.read, lambda conn: get_execution(conn, caller.org_id, execution_id)
    )
    if row is None:
        raise not_found("execution", execution_id)
    status = row["status"]
    if status not in ("failed", "timed_out"):
        why = _NOT_RETRYABLE.get(
            status, "it has not ended; only a failed or timed-out execution can be retried"
        )
        raise conflict(f"execution {execution_id} is {status}: {why}.")
    definition_id, version = str(row["definition_id"]), int(row["definition_version"])
    found = await run_in_threadpool(
        commands.read, lambda conn: get_definition(conn, caller.org_id, definition_id, version)
    )
    if found is None:
        raise conflict(
            f"execution {execution_id} ran version {version} of definition {definition_id}, "
            "which is not found."
        )
    body_of_version = definition_body(found)
    step_id = _retry_step(
        Definition.from_dict(body_of_version), row, body.from_step if body else None
    )
    trigger = dict(row["trigger"] or {})
    payload = trigger.get("payload")
    execution = execution_input(
        meta=command_meta(request, caller),
        execution_id=str(row["id"]),
        definition_id=definition_id,
        definition_version=version,
        definition=body_of_version,
        trigger=trigger,
        contact_id=row["contact_id"],
        input=row["input"] or {},
        payload=payload if isinstance(payload, dict) else {},
    ).model_copy(
        update={
            "retry": RetryRequest(
                from_step=step_id, actor=caller.actor, reason=body.reason if body else None
            )
        }
    )
    try:
        started = await retry_execution(
            context.require_temporal(), context.settings.temporal_task_queue, execution
        )
    except WorkflowAlreadyStartedError:
        raise conflict(
            f"execution {execution_id} is already running again (a retry is under way)."
        ) from None
    return respond(
        Outcome(
            workflow_id=started.workflow_id,
            resource_id=started.execution_id,
            location=path_of(request, "get_execution", execution_id=started.execution_id),
        )
    )
