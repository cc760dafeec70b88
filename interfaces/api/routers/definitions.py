"""``/definitions``: list, read (any version), create, publish a version, (de)activate.

Managing definitions needs the admin or owner role; reading them, any role.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from domain.definition_validation import validate_definition
from interfaces.api.auth import Principal
from interfaces.api.commands import (
    CommandTarget,
    ReadBack,
    Wait,
    change_target,
    command_meta,
    creation_target,
)
from interfaces.api.deps import (
    Caller,
    Commands,
    Cursor,
    Db,
    DefinitionManager,
    IdempotencyKey,
    Limit,
    WaitOption,
)
from interfaces.api.problems import CONFLICT, NOT_FOUND, VALIDATION, ProblemError
from interfaces.api.routers.common import API_PREFIX, COMMAND_RESPONSES, not_found, path_of
from interfaces.api.schemas.definitions import (
    DEFINITION_EXAMPLE,
    DefinitionCommandAccepted,
    DefinitionPublic,
    DefinitionsPage,
)
from interfaces.api.webhook_signing import WEBHOOK_TRIGGERS, derive_secret
from projections.queries import get_definition, list_definitions
from projections.queries.pagination import DEFAULT_LIMIT, as_uuid
from worker.contracts import DEFINITION_COMMAND_WORKFLOW, DefinitionCommand

router = APIRouter(prefix=API_PREFIX, tags=["definitions"])

DefinitionBody = Annotated[
    dict[str, Any],
    Body(
        description='A workflow definition (contract.md, "Workflow definitions").',
        examples=[DEFINITION_EXAMPLE],
    ),
]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMAND_RESPONSES,
    202: {"model": DefinitionCommandAccepted, "description": "Accepted, with the version."},
}


@router.get("/definitions", name="list_definitions")
def list_definitions_route(
    caller: Caller,
    db: Db,
    is_active: Annotated[bool | None, Query(description="Only active (or inactive) ones.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> DefinitionsPage:
    page = list_definitions(db, caller.org_id, is_active=is_active, limit=limit, cursor=cursor)
    return DefinitionsPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})


@router.get("/definitions/{definition_id}", name="get_definition")
def get_definition_route(
    definition_id: str,
    caller: Caller,
    db: Db,
    version: Annotated[int | None, Query(ge=1, description="An older version's body.")] = None,
) -> DefinitionPublic:
    row = get_definition(db, caller.org_id, definition_id, version)
    if row is None:
        if version is None:
            raise not_found("definition", definition_id)
        raise ProblemError(
            404, f"definition {definition_id} has no version {version}.", type_=NOT_FOUND
        )
    return DefinitionPublic.model_validate(row)


@router.post(
    "/definitions",
    name="create_definition",
    status_code=202,
    response_model=None,
    responses={**RESPONSES, 201: {"model": DefinitionPublic}},
)
async def create_definition_route(
    body: DefinitionBody,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    _check(body)
    target = creation_target("definition", caller, idempotency_key)
    response = await run_definition_command(
        request, commands, caller, target, "create", wait, body=body, created=True
    )
    return with_webhook_secret(request, body, target.resource_id, response)


def with_webhook_secret(
    request: Request, body: DefinitionBody, definition_id: str, response: JSONResponse
) -> JSONResponse:
    """A webhook-triggered definition's creation answers with its signing secret, the only time
    the API shows it (rotate it with ``POST /definitions/{id}/webhook-secret``)."""
    steps = body.get("steps") or []
    trigger = next((s for s in steps if isinstance(s, dict) and s.get("type") == "trigger"), {})
    if (trigger.get("config") or {}).get("type") not in WEBHOOK_TRIGGERS:
        return response
    content = json.loads(bytes(response.body))
    content["webhook_secret"] = derive_secret(
        request.app.state.api.settings.webhook_key(), definition_id, 1
    )
    content["webhook_url"] = path_of(request, "receive_webhook", definition_id=definition_id)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return JSONResponse(content, status_code=response.status_code, headers=headers)


@router.put(
    "/definitions/{definition_id}",
    name="publish_definition",
    status_code=202,
    response_model=None,
    responses={**RESPONSES, 200: {"model": DefinitionPublic}},
)
async def publish_definition_route(
    definition_id: str,
    body: DefinitionBody,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A new version; running executions keep the version they started with."""
    definition_id = _known_id(definition_id)
    _check(body)
    target = change_target("definition", "publish", caller, definition_id, idempotency_key)
    return await run_definition_command(
        request, commands, caller, target, "publish", wait, body=body
    )


@router.post(
    "/definitions/{definition_id}/activate",
    name="activate_definition",
    status_code=202,
    response_model=None,
    responses={**RESPONSES, 200: {"model": DefinitionPublic}},
)
async def activate_definition_route(
    definition_id: str,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    definition_id = _known_id(definition_id)
    target = change_target("definition", "activate", caller, definition_id, idempotency_key)
    return await run_definition_command(request, commands, caller, target, "activate", wait)


@router.post(
    "/definitions/{definition_id}/deactivate",
    name="deactivate_definition",
    status_code=202,
    response_model=None,
    responses={**RESPONSES, 200: {"model": DefinitionPublic}},
)
async def deactivate_definition_route(
    definition_id: str,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    definition_id = _known_id(definition_id)
    target = change_target("definition", "deactivate", caller, definition_id, idempotency_key)
    return await run_definition_command(request, commands, caller, target, "deactivate", wait)


def _known_id(definition_id: str) -> str:
    key = as_uuid(definition_id)
    if key is None:
        raise not_found("definition", definition_id)
    return str(key)


def _check(body: dict[str, Any]) -> None:
    """Refuse an invalid definition before any workflow runs, naming every problem."""
    problems = validate_definition(body)
    if problems:
        raise ProblemError(
            422,
            f"The workflow definition has {len(problems)} "
            f"problem{'s' if len(problems) > 1 else ''}.",
            type_=VALIDATION,
            title="Invalid definition",
            errors=[{**problem.to_dict(), "location": "body"} for problem in problems],
        )


async def run_definition_command(
    request: Request,
    commands: Commands,
    caller: Principal,
    target: CommandTarget,
    action: Literal["create", "publish", "activate", "deactivate", "rotate_secret"],
    wait: Wait,
    *,
    body: dict[str, Any] | None = None,
    created: bool = False,
) -> JSONResponse:
    org_id, definition_id = caller.org_id, target.resource_id
    command = DefinitionCommand(
        meta=command_meta(request, caller),
        action=action,
        definition_id=definition_id,
        body=body,
    )
    return await commands.execute(
        workflow=DEFINITION_COMMAND_WORKFLOW,
        command=command,
        target=target,
        wait=wait,
        read_back=ReadBack(
            projection="definitions",
            read=lambda conn: get_definition(conn, org_id, definition_id),
            public=DefinitionPublic,
            location=path_of(request, "get_definition", definition_id=definition_id),
        ),
        created=created,
        with_version=True,
    )


@router.post(
    "/definitions/{definition_id}/webhook-secret",
    name="rotate_webhook_secret",
    status_code=200,
    response_model=None,
    responses={
        **RESPONSES,
        200: {"description": "The new secret; the old one stops verifying at once."},
    },
)
async def rotate_webhook_secret_route(
    definition_id: str,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Retire a webhook definition's signing secret and answer, once, with the new one."""
    definition_id = _known_id(definition_id)
    org_id = caller.org_id
    row = await run_in_threadpool(_read_definition, request, org_id, definition_id)
    if row is None:
        raise not_found("definition", definition_id)
    if (row.get("trigger") or {}).get("type") not in WEBHOOK_TRIGGERS:
        raise ProblemError(
            409,
            f"definition {definition_id} is not started by webhooks; it has no secret to rotate.",
            type_=CONFLICT,
        )
    target = change_target("definition", "rotate_secret", caller, definition_id, idempotency_key)
    accepted = await run_definition_command(
        request, commands, caller, target, "rotate_secret", Wait(enabled=False)
    )
    content = json.loads(bytes(accepted.body))
    generation = content.pop("webhook_secret_generation", None)
    if accepted.status_code != 202 or generation is None:
        return accepted
    content["webhook_secret"] = derive_secret(
        request.app.state.api.settings.webhook_key(), definition_id, int(generation)
    )
    content["webhook_secret_generation"] = generation
    return JSONResponse(content, status_code=200, headers={"X-Workflow-Id": target.workflow_id})


def _read_definition(request: Request, org_id: str, definition_id: str) -> dict[str, Any] | None:
    with request.app.state.api.pool.connection() as conn:
        return get_definition(conn, org_id, definition_id)
