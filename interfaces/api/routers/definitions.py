"""``/definitions``: list, read (any version), create (also from a template), publish a
version, (de)activate, rotate a webhook secret.

Managing definitions needs the admin or owner role; reading them, any role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from domain.definition_library import template_named
from domain.definition_validation import validate_definition
from interfaces.api.auth import Principal
from interfaces.api.commands import (
    CommandGateway,
    CommandTarget,
    Outcome,
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
from interfaces.api.problems import NOT_FOUND, VALIDATION, ProblemError, conflict, not_found
from interfaces.api.responses import API_PREFIX, COMMAND_RESPONSES, path_of, respond
from interfaces.api.schemas.definitions import (
    DEFINITION_EXAMPLE,
    DefinitionCommandAccepted,
    DefinitionPublic,
    DefinitionsPage,
)
from interfaces.api.schemas.templates import TemplateInstantiate
from interfaces.api.webhook_signing import WEBHOOK_TRIGGERS, derive_secret
from projections.queries import get_definition, list_definitions
from projections.queries.pagination import DEFAULT_LIMIT, as_uuid
from worker.commands import (
    ActivateDefinition,
    CreateDefinition,
    DeactivateDefinition,
    DefinitionIntent,
    PublishDefinitionVersion,
    RotateWebhookSecret,
)
from worker.contracts import DEFINITION_COMMAND_WORKFLOW

router = APIRouter(prefix=API_PREFIX, tags=["definitions"])

DefinitionBody = Annotated[
    dict[str, Any],
    Body(
        description='A workflow definition (docs/contract.md, "Workflow definitions").',
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
    return await _create(request, commands, caller, body, wait, idempotency_key)


@router.post(
    "/templates/{key}/instantiate",
    name="instantiate_template",
    tags=["templates"],
    status_code=202,
    response_model=None,
    responses={**RESPONSES, 201: {"model": DefinitionPublic}},
)
async def instantiate_template_route(
    key: str,
    caller: DefinitionManager,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    body: TemplateInstantiate | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A new definition from a template of the library: an ordinary one, versioned, inactive
    until activated, editable."""
    template = template_named(key)
    if template is None:
        raise not_found("template", key)
    definition = template.instantiate(name=body.name if body else None)
    return await _create(request, commands, caller, definition, wait, idempotency_key)


async def _create(
    request: Request,
    commands: CommandGateway,
    caller: Principal,
    body: dict[str, Any],
    wait: Wait,
    idempotency_key: str | None,
) -> JSONResponse:
    """Create a definition; a webhook-triggered one answers with its signing secret, the only
    time the API shows it (rotate it with ``POST /definitions/{id}/webhook-secret``)."""
    _check(body)
    target = creation_target("definition", caller, idempotency_key)
    command = CreateDefinition(
        meta=command_meta(request, caller), definition_id=target.resource_id, body=body
    )
    outcome = await _run(request, commands, caller, target, command, wait, created=True)
    if _webhook_trigger(body) not in WEBHOOK_TRIGGERS:
        return respond(outcome)
    secret = derive_secret(request.app.state.api.settings.webhook_key(), target.resource_id, 1)
    url = path_of(request, "receive_webhook", definition_id=target.resource_id)
    return respond(outcome, extra={"webhook_secret": secret, "webhook_url": url})


def _webhook_trigger(body: dict[str, Any]) -> object:
    steps = body.get("steps") or []
    trigger = next((s for s in steps if isinstance(s, dict) and s.get("type") == "trigger"), {})
    config = trigger.get("config") if isinstance(trigger, dict) else None
    return config.get("type") if isinstance(config, dict) else None


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
    meta = command_meta(request, caller)
    command = PublishDefinitionVersion(meta=meta, definition_id=definition_id, body=body)
    return respond(await _run(request, commands, caller, target, command, wait))


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
    command = ActivateDefinition(meta=command_meta(request, caller), definition_id=definition_id)
    return respond(await _run(request, commands, caller, target, command, wait))


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
    meta = command_meta(request, caller)
    command = DeactivateDefinition(meta=meta, definition_id=definition_id)
    return respond(await _run(request, commands, caller, target, command, wait))


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
    row = await run_in_threadpool(
        commands.read, lambda conn: get_definition(conn, org_id, definition_id)
    )
    if row is None:
        raise not_found("definition", definition_id)
    if (row.get("trigger") or {}).get("type") not in WEBHOOK_TRIGGERS:
        raise conflict(
            f"definition {definition_id} is not started by webhooks; it has no secret to rotate."
        )
    target = change_target("definition", "rotate_secret", caller, definition_id, idempotency_key)
    command = RotateWebhookSecret(meta=command_meta(request, caller), definition_id=definition_id)
    outcome = await _run(request, commands, caller, target, command, Wait(enabled=False))
    generation = outcome.result.webhook_secret_generation if outcome.result else None
    if generation is None:
        return respond(outcome)  # accepted, not yet run: the secret is not known yet
    secret = derive_secret(request.app.state.api.settings.webhook_key(), definition_id, generation)
    return respond(outcome, extra={"webhook_secret": secret}, status=200)


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


async def _run(
    request: Request,
    commands: CommandGateway,
    caller: Principal,
    target: CommandTarget,
    command: DefinitionIntent,
    wait: Wait,
    *,
    created: bool = False,
) -> Outcome:
    org_id, definition_id = caller.org_id, target.resource_id
    return await commands.run(
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
