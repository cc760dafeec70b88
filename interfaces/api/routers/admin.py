"""``/admin/projections``: status of every projection, one projection's progress, and
requesting a rebuild.

Platform operators see the whole store (global positions, head, errors) and may request a
rebuild, which rebuilds every org's rows. An org's admins and owners see their org's share of
the status (`projections.queries.org_status`) and may not rebuild (403).

A rebuild request is recorded as an ``AdminAction`` event through Temporal, like every write;
the projector process carries it out (interfaces/admin_requests.py) into new tables while the
live ones keep serving, and ``GET /admin/projections/{name}`` shows its progress.
"""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from interfaces.admin_requests import EXECUTOR
from interfaces.api.auth import Principal
from interfaces.api.commands import CommandTarget, Wait, command_meta
from interfaces.api.deps import AdminViewer, Commands, Db, Operator
from interfaces.api.problems import not_found
from interfaces.api.responses import API_PREFIX, path_of, respond
from projections import projection_named
from projections.queries.org_status import org_projection_status
from projections.queries.status import projection_status
from worker.contracts import ADMIN_COMMAND_WORKFLOW, AdminCommand

router = APIRouter(prefix=API_PREFIX, tags=["admin"])


@router.get("/admin/projections", name="list_projections")
def list_projections_route(caller: AdminViewer, db: Db) -> JSONResponse:
    rows = _status(db, caller)
    return JSONResponse({"items": _json(rows), "next_cursor": None})


@router.get("/admin/projections/{name}", name="get_projection")
def get_projection_route(name: str, caller: AdminViewer, db: Db) -> JSONResponse:
    rows = _status(db, caller, name)
    if not rows:
        raise not_found("projection", name)
    return JSONResponse(_json(rows)[0])


@router.post("/admin/projections/{name}/rebuild", name="rebuild_projection", status_code=202)
async def rebuild_projection_route(
    name: str, caller: Operator, request: Request, commands: Commands
) -> JSONResponse:
    try:
        projection_named(name)
    except KeyError:
        raise not_found("projection", name) from None
    command = AdminCommand(
        meta=command_meta(request, caller),
        action="rebuild",
        target=name,
        parameters={"executor": EXECUTOR},
    )
    outcome = await commands.run(
        workflow=ADMIN_COMMAND_WORKFLOW,
        command=command,
        target=CommandTarget(f"admin-rebuild-{name}-{uuid.uuid4()}", name, idempotent=False),
        wait=Wait(enabled=False),
        read_back=None,
        location=path_of(request, "get_projection", name=name),
    )
    return respond(outcome, extra={"projection": name})


def _status(db: Db, caller: Principal, name: str | None = None) -> list[dict[str, object]]:
    if caller.operator:
        return [{**row, "scope": "store"} for row in projection_status(db, name)]
    return org_projection_status(db, caller.org_id, name)


def _json(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Times and ids as JSON text, the way every other route renders them."""
    loaded: list[dict[str, object]] = json.loads(json.dumps(rows, default=str))
    return loaded
