"""``/admin/projections``: status of every projection, one projection's progress, and
requesting a rebuild (admins and owners only).

A rebuild request is recorded as an ``AdminAction`` event through Temporal, like every write;
the projector process carries it out (interfaces/admin_requests.py) into new tables while the
live ones keep serving, and ``GET /admin/projections/{name}`` shows its progress.
"""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowFailureError

from interfaces.admin_requests import EXECUTOR
from interfaces.api.commands import CommandTarget, command_meta, command_problem
from interfaces.api.deps import Context, Db, DefinitionManager
from interfaces.api.routers.common import API_PREFIX, not_found
from projections import projection_named
from projections.queries.status import projection_status
from worker.contracts import ADMIN_COMMAND_WORKFLOW, AdminCommand, CommandResult

router = APIRouter(prefix=API_PREFIX, tags=["admin"])


@router.get("/admin/projections", name="list_projections")
def list_projections_route(caller: DefinitionManager, db: Db) -> JSONResponse:
    rows = projection_status(db)
    return JSONResponse({"items": _json(rows), "next_cursor": None})


@router.get("/admin/projections/{name}", name="get_projection")
def get_projection_route(name: str, caller: DefinitionManager, db: Db) -> JSONResponse:
    rows = projection_status(db, name)
    if not rows:
        raise not_found("projection", name)
    return JSONResponse(_json(rows)[0])


@router.post("/admin/projections/{name}/rebuild", name="rebuild_projection", status_code=202)
async def rebuild_projection_route(
    name: str, caller: DefinitionManager, request: Request, context: Context
) -> JSONResponse:
    try:
        projection_named(name)
    except KeyError:
        raise not_found("projection", name) from None
    workflow_id = f"admin-rebuild-{name}-{uuid.uuid4()}"
    try:
        result: CommandResult = await context.require_temporal().execute_workflow(
            ADMIN_COMMAND_WORKFLOW,
            AdminCommand(
                meta=command_meta(request, caller),
                action="rebuild",
                target=name,
                parameters={"executor": EXECUTOR},
            ),
            id=workflow_id,
            task_queue=context.settings.temporal_task_queue,
            result_type=CommandResult,
        )
    except WorkflowFailureError as e:
        raise command_problem(e, CommandTarget(workflow_id, name, False)) from None
    location = str(request.app.url_path_for("get_projection", name=name))
    return JSONResponse(
        {"workflow_id": workflow_id, "id": result.id, "projection": name},
        status_code=202,
        headers={"Location": location, "X-Workflow-Id": workflow_id},
    )


def _json(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Times and ids as JSON text, the way every other route renders them."""
    loaded: list[dict[str, object]] = json.loads(json.dumps(rows, default=str))
    return loaded
