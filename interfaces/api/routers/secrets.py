"""``/secrets``: an org's secrets, which definitions reference as ``{{secrets.NAME}}``.

Admins and owners set, list and delete them. A value is write-only: no route returns it, and
it reaches no event, read model or log. Like every write it goes through Temporal (the secret
command workflow), but sealed: the API encrypts it under a key derived from
BYTEDASH_MASTER_KEY before it becomes a workflow input (worker/secret_transit.py), and the
worker opens it only to store it under the org's data key (application/secrets.py). Only the
fact of a change is an event: `Secret.ValueSet` or `Secret.Deleted`, with the name, the actor
and the time.

PUT and DELETE wait for the worker (a moment) and answer with the outcome (200 with the
secret's name, who set it and when; 204 once deleted); when the worker does not answer in time
the command is accepted (202, its fate at `status_url`). Neither takes an Idempotency-Key: both
are idempotent by nature, and a key would need a digest of the value kept in Temporal.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from domain.secret import name_problem
from interfaces.api.auth import Principal
from interfaces.api.commands import CommandTarget, Outcome, Wait, command_meta
from interfaces.api.deps import Commands, Context, Db, DefinitionManager
from interfaces.api.problems import invalid, not_found
from interfaces.api.responses import API_PREFIX, COMMAND_RESPONSES, respond
from interfaces.api.schemas.secrets import SecretPublic, SecretsList, SecretValue
from projections.queries.secrets import get_secret, list_secrets
from worker.secret_contracts import SECRET_COMMAND_WORKFLOW, SecretCommand
from worker.secret_transit import seal_value
from worker.secret_values import remember

router = APIRouter(prefix=API_PREFIX, tags=["secrets"])

SecretName = Annotated[
    str,
    Path(
        description="Upper-case letters, digits and underscores, starting with a letter "
        "(at most 64): `CRM_API_KEY`.",
        examples=["CRM_API_KEY"],
    ),
]


def _checked(name: str) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise invalid("name", problem, location="path")
    return name


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return SecretPublic.model_validate(row).model_dump(mode="json")


@router.get("/secrets", name="list_secrets", response_model=SecretsList)
def list_secrets_route(caller: DefinitionManager, db: Db) -> JSONResponse:
    items = [_public(row) for row in list_secrets(db, caller.org_id)]
    return JSONResponse({"items": items, "next_cursor": None})


@router.put(
    "/secrets/{name}",
    name="put_secret",
    response_model=SecretPublic,
    responses={k: v for k, v in COMMAND_RESPONSES.items() if k in (202, 422)},
)
async def put_secret_route(
    name: SecretName,
    body: SecretValue,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    context: Context,
    db: Db,
) -> JSONResponse:
    _checked(name)
    remember([body.value])  # masked in this process's log lines (interfaces/log_masks.py)
    sealed = seal_value(context.settings.master_key_bytes(), caller.org_id, name, body.value)
    command = SecretCommand(
        meta=command_meta(request, caller), action="set", name=name, sealed_value=sealed
    )
    outcome = await _run(commands, command, caller, "set")
    if outcome.result is None:
        return respond(outcome)
    row = get_secret(db, caller.org_id, name)
    if row is None:  # deleted again in the meantime by another request
        raise not_found("secret", name)
    return JSONResponse(_public(row), headers={"X-Workflow-Id": outcome.workflow_id})


@router.delete(
    "/secrets/{name}",
    name="delete_secret",
    status_code=204,
    response_class=Response,
    responses={k: v for k, v in COMMAND_RESPONSES.items() if k in (202, 404, 422)},
)
async def delete_secret_route(
    name: SecretName,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    db: Db,
) -> Response:
    _checked(name)
    if get_secret(db, caller.org_id, name) is None:
        raise not_found("secret", name)
    command = SecretCommand(meta=command_meta(request, caller), action="delete", name=name)
    outcome = await _run(commands, command, caller, "delete")
    if outcome.result is None:
        return respond(outcome)
    return Response(status_code=204, headers={"X-Workflow-Id": outcome.workflow_id})


async def _run(
    commands: Commands, command: SecretCommand, caller: Principal, action: str
) -> Outcome:
    workflow_id = f"secret-{action}-{command.name}-{uuid.uuid4()}"
    return await commands.run(
        workflow=SECRET_COMMAND_WORKFLOW,
        command=command,
        target=CommandTarget(workflow_id, command.name, idempotent=False),
        wait=Wait(enabled=False),
        read_back=None,
        location=f"{API_PREFIX}/secrets",
    )
