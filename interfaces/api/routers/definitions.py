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
from domain.definition_model import Definition
from domain.definition_validation import parse_definition, validate_definition
from domain.steps.llm import endpoint_problems
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
    Context,
    Cursor,
    Db,
    DefinitionManager,
    IdempotencyKey,
    Limit,
    WaitOption,
)
from interfaces.api.migrations import (
    asked_rows,
    migration_request,
    move,
    open_executions,
    plan,
)
from interfaces.api.problems import (
    NOT_FOUND,
    UNAVAILABLE,
    VALIDATION,
    ProblemError,
    conflict,
    invalid,
    not_found,
)
from interfaces.api.responses import API_PREFIX, COMMAND_RESPONSES, path_of, respond
from interfaces.api.routers.templates import instantiated
from interfaces.api.schemas.definitions import (
    DEFINITION_EXAMPLE,
    DefinitionCommandAccepted,
    DefinitionPublic,
    DefinitionsPage,
)
from interfaces.api.schemas.dry_run import DryRunAnswer, DryRunRequest
from interfaces.api.schemas.migrations import (
    MAX_MIGRATION_EXECUTIONS,
    MigrationCreate,
    MigrationReport,
)
from interfaces.api.schemas.stats import DefinitionStats
from interfaces.api.schemas.templates import TemplateInstantiate
from interfaces.api.schemas.times import IsoTime
from interfaces.api.secret_checks import definition_secret_problems, secret_placement_problems
from interfaces.api.webhook_signing import WEBHOOK_TRIGGERS, derive_secret
from projections.queries import get_definition, list_definitions
from projections.queries.pagination import DEFAULT_LIMIT, as_uuid
from projections.queries.secrets import known_secret_names
from projections.queries.stats import definition_stats
from worker.commands import (
    ActivateDefinition,
    CreateDefinition,
    DeactivateDefinition,
    DefinitionIntent,
    PublishDefinitionVersion,
    RotateWebhookSecret,
)
from worker.contracts import DEFINITION_COMMAND_WORKFLOW
from worker.dry_run import (
    DryRunTimeoutError,
    DryRunUnavailableError,
    HttpScript,
    Script,
    SignalScript,
    TaskScript,
    dry_run,
    secret_references,
)
from worker.starts import definition_body

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


@router.get("/definitions/{definition_id}/stats", name="definition_stats")
def definition_stats_route(
    definition_id: str,
    caller: Caller,
    db: Db,
    version: Annotated[
        int | None, Query(ge=1, description="Only this version's executions.")
    ] = None,
    since: Annotated[
        IsoTime | None, Query(description="Executions created at or after (ISO 8601, timezone).")
    ] = None,
    until: Annotated[
        IsoTime | None, Query(description="Executions created before (ISO 8601, timezone).")
    ] = None,
) -> DefinitionStats:
    """Executions by status, success rate, durations, and per step: how many reached it, the
    time spent there (the human wait apart from the machine work), and who waits there now.

    Served from the ``execution_stats`` read model, so it follows the store like every read.
    Any role may read it, like the definition itself."""
    if since is not None and until is not None and since >= until:
        raise invalid("until", "'until' must be later than 'since'.", location="query")
    definition = get_definition(db, caller.org_id, definition_id, version)
    if definition is None:
        if version is None:
            raise not_found("definition", definition_id)
        raise ProblemError(
            404, f"definition {definition_id} has no version {version}.", type_=NOT_FOUND
        )
    stats = definition_stats(
        db,
        caller.org_id,
        str(definition["id"]),
        version=version,
        since=since,
        until=until,
        step_order=[str(step.get("id")) for step in definition["steps"] or []],
    )
    return DefinitionStats.model_validate(stats)


@router.post(
    "/definitions/dry-run",
    name="dry_run_definition",
    responses={
        404: {"description": "The stored definition, or the version asked for, does not exist."},
        503: {"description": "Dry runs cannot run on this deployment."},
    },
)
async def dry_run_route(body: DryRunRequest, caller: DefinitionManager, db: Db) -> DryRunAnswer:
    """Run a definition (a body, or a stored version) once on the real interpreter, in
    simulated time, with scripted outcomes for its tasks, signals and outbound calls, and
    answer the timeline: nothing is recorded and nothing is sent (docs/engine.md, "Dry runs").

    Admins and owners, who write definitions; a body is checked like POST /definitions, except
    that llm steps need no LLM_BASE_URL (their answer is scripted) and that secrets it references
    need not be set yet (the answer says which are)."""
    if body.definition is not None:
        problems = validate_definition(body.definition) + secret_placement_problems(body.definition)
        if problems:
            raise ProblemError(
                422,
                f"The workflow definition has {len(problems)} "
                f"problem{'s' if len(problems) > 1 else ''}.",
                type_=VALIDATION,
                title="Invalid definition",
                errors=[
                    {
                        **problem.to_dict(),
                        "field": f"definition.{problem.field}" if problem.field else "definition",
                        "location": "body",
                    }
                    for problem in problems
                ],
            )
        definition = parse_definition(body.definition).to_dict()
        definition_id, version = "dry-run", None
    else:
        definition_id = str(body.definition_id)
        row = await run_in_threadpool(
            get_definition, db, caller.org_id, definition_id, body.version
        )
        if row is None or row["definition_version"] is None:
            if body.version is None:
                raise not_found("definition", definition_id)
            raise ProblemError(
                404, f"definition {definition_id} has no version {body.version}.", type_=NOT_FOUND
            )
        definition, version = definition_body(row), int(row["definition_version"])
    script = Script(
        tasks={k: TaskScript(v.status, dict(v.metadata), v.after) for k, v in body.tasks.items()},
        signals={k: SignalScript(dict(v.payload), v.after) for k, v in body.signals.items()},
        http={k: HttpScript(v.status_code, v.body) for k, v in body.http.items()},
        llm_content=body.llm_content,
        max_steps=body.max_steps,
    )
    # Names only, from the read model: which of the referenced secrets the org has set.
    referenced = {name for _, name in secret_references(definition)}
    secrets_set = await run_in_threadpool(known_secret_names, db, caller.org_id, referenced)
    try:
        report = await dry_run(
            definition,
            org_id=caller.org_id,
            actor=caller.actor,
            definition_id=definition_id,
            definition_version=version or 1,
            payload=body.payload,
            input=body.input,
            contact=body.contact,
            script=script,
            secrets_set=secrets_set,
        )
    except DryRunUnavailableError as e:
        raise ProblemError(503, str(e), type_=UNAVAILABLE) from None
    except DryRunTimeoutError as e:
        raise ProblemError(
            422,
            f"{e}: its steps take too long to run, even with waits skipped.",
            type_=VALIDATION,
            title="Dry run too long",
        ) from None
    return DryRunAnswer.model_validate({**report.to_dict(), "definition_version": version})


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
    definition = instantiated(template, body)
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
    # In a thread: a definition that references secrets is checked against the org's names.
    await run_in_threadpool(_check, request, body, caller.org_id)
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
    # In a thread: a definition that references secrets is checked against the org's names.
    await run_in_threadpool(_check, request, body, caller.org_id)
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


def _check(request: Request, body: dict[str, Any], org_id: str) -> None:
    """Refuse an invalid definition before any workflow runs, naming every problem: those of
    the definition itself, the steps this deployment cannot run (an llm step without
    LLM_BASE_URL, a setting the domain's validation cannot see), and what it says about
    credentials: a secret the org has not set, a reference where no call sends it, a
    credential written inline (interfaces/api/secret_checks.py, which reads the org's secret
    names)."""
    context = request.app.state.api
    settings = context.settings
    problems = (
        validate_definition(body)
        + endpoint_problems(body, endpoint_configured=settings.llm_base_url is not None)
        + definition_secret_problems(body, org_id, context.pool)
    )
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


@router.post(
    "/definitions/{definition_id}/migrations",
    name="migrate_executions",
    responses={404: {"description": "No such definition in the caller's org."}},
)
async def migrations_route(
    definition_id: str,
    body: MigrationCreate,
    caller: DefinitionManager,
    request: Request,
    db: Db,
    context: Context,
) -> MigrationReport:
    """Move the definition's running executions to `target_version` where they wait on a task,
    a signal or a delay, each one's step going on as `step_mapping` says; with `dry_run` (the
    default) only say which would move and why the others cannot. Executions not moved keep
    their version (docs/engine.md, "Moving executions")."""
    org_id = caller.org_id
    found = await run_in_threadpool(get_definition, db, org_id, definition_id)
    if found is None:
        raise not_found("definition", definition_id)
    definition_id = str(found["id"])
    target_row = await run_in_threadpool(
        get_definition, db, org_id, definition_id, body.target_version
    )
    if target_row is None or target_row["definition_version"] is None:
        raise invalid(
            "target_version",
            f"definition {definition_id} has no version {body.target_version} (its current "
            f"version is {found['definition_version']}).",
        )
    target_body = definition_body(target_row)
    target = Definition.from_dict(target_body)
    truncated = False
    if body.execution_ids is not None:
        asked = [str(execution_id) for execution_id in body.execution_ids]
        rows = await run_in_threadpool(asked_rows, db, org_id, asked)
    else:
        listed, truncated = await run_in_threadpool(
            open_executions, db, org_id, definition_id, MAX_MIGRATION_EXECUTIONS
        )
        rows = list(listed)
    planned = await run_in_threadpool(
        plan, db, org_id, definition_id, target, body.target_version, body.step_mapping, rows
    )
    if not body.dry_run:
        ask = migration_request(
            command_meta(request, caller), body.target_version, target_body, body.step_mapping
        )
        await move(context.require_temporal(), planned, ask)
    items = [entry.item(body.dry_run) for entry in planned]
    moved = sum(1 for item in items if item["outcome"] != "not_moved")
    return MigrationReport.model_validate(
        {
            "definition_id": definition_id,
            "target_version": body.target_version,
            "dry_run": body.dry_run,
            "moved": moved,
            "not_moved": len(items) - moved,
            "truncated": truncated,
            "executions": items,
        }
    )
