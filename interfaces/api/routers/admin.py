"""``/admin/projections``: status of every projection, one projection's progress, requesting a
rebuild, and the parked events of a projection with their retry and skip.

Platform operators see the whole store (global positions, head, errors) and may request a
rebuild, which rebuilds every org's rows. An org's admins and owners see their org's share of
the status (`projections.queries.org_status`) and may not rebuild (403).

A rebuild request is recorded as an ``AdminAction`` event through Temporal, like every write;
the projector process carries it out (interfaces/admin_requests.py) into new tables while the
live ones keep serving, and ``GET /admin/projections/{name}`` shows its progress. Retrying or
skipping a parked event goes the same way (actions ``retry_parked`` and ``skip_parked``): the
parked list then shows it ``retried`` (or still ``parked`` with one more attempt and the new
error) or ``skipped``. Parked events name any org's events and their errors quote them, so the
list and its actions are platform operators' only, like the rebuild.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from interfaces.admin_requests import EXECUTOR
from interfaces.api.auth import Principal
from interfaces.api.commands import CommandTarget, Wait, command_meta
from interfaces.api.deps import AdminViewer, Commands, Cursor, Db, Limit, Operator
from interfaces.api.problems import conflict, invalid, not_found
from interfaces.api.responses import API_PREFIX, path_of, respond
from interfaces.api.schemas.common import RequestBody
from projections import projection_named
from projections.queries.org_status import org_projection_status
from projections.queries.pagination import DEFAULT_LIMIT
from projections.queries.status import parked_events, projection_status
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


_PARKED_RESPONSES: dict[int | str, dict[str, object]] = {
    409: {"description": "The event is no longer parked: it was retried or skipped."}
}
ParkedStatus = Literal["parked", "retried", "skipped", "all"]
MAX_SKIP_REASON_CHARS = 1000


class ParkedSkip(RequestBody):
    """Why the event shall never be applied: the record of an admin's decision to lose it."""

    reason: str = Field(min_length=1, max_length=MAX_SKIP_REASON_CHARS)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank", "The reason cannot be blank.")
        return value


@router.get("/admin/projections/{name}/parked", name="list_parked_events")
def list_parked_route(
    name: str,
    caller: Operator,
    db: Db,
    status: Annotated[ParkedStatus, Query(description="`all`: resolved ones too.")] = "parked",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> JSONResponse:
    """The events `name` could not apply, oldest first, with their error and attempts."""
    _known(name)
    after = 0
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 19:
            raise invalid(
                "cursor",
                "cursor is malformed: pass back a next_cursor unchanged.",
                location="query",
            )
        after = int(cursor)
    rows = parked_events(
        db, name, status=None if status == "all" else status, limit=limit + 1, after=after
    )
    more = len(rows) > limit
    items = rows[:limit]
    next_cursor = str(items[-1]["position"]) if more else None
    return JSONResponse({"items": _json(items), "next_cursor": next_cursor})


@router.post(
    "/admin/projections/{name}/parked/{position}/retry",
    name="retry_parked_event",
    status_code=202,
    responses=_PARKED_RESPONSES,
)
async def retry_parked_route(
    name: str, position: int, caller: Operator, request: Request, commands: Commands, db: Db
) -> JSONResponse:
    _parked_now(db, name, position)
    return await _request(request, caller, commands, "retry_parked", name, {"position": position})


@router.post(
    "/admin/projections/{name}/parked/{position}/skip",
    name="skip_parked_event",
    status_code=202,
    responses=_PARKED_RESPONSES,
)
async def skip_parked_route(
    name: str,
    position: int,
    body: ParkedSkip,
    caller: Operator,
    request: Request,
    commands: Commands,
    db: Db,
) -> JSONResponse:
    _parked_now(db, name, position)
    return await _request(
        request,
        caller,
        commands,
        "skip_parked",
        name,
        {"position": position, "reason": body.reason},
    )


def _known(name: str) -> None:
    try:
        projection_named(name)
    except KeyError:
        raise not_found("projection", name) from None


def _parked_now(db: Db, name: str, position: int) -> None:
    """404 for an event the projection never parked, 409 for one already resolved."""
    _known(name)
    if not 0 < position < 2**63:
        raise not_found("parked event", str(position))
    rows = parked_events(db, name, status=None, limit=1, after=position - 1)
    if not rows or rows[0]["position"] != position:
        raise not_found("parked event", f"{name}/{position}")
    if rows[0]["status"] != "parked":
        raise conflict(
            f"the event at position {position} is no longer parked in {name}: it was "
            f"{rows[0]['status']} by {rows[0]['resolved_by']} at {rows[0]['resolved_at']}."
        )


async def _request(
    request: Request,
    caller: Principal,
    commands: Commands,
    action: str,
    name: str,
    parameters: dict[str, object],
) -> JSONResponse:
    """Record the action through Temporal; the projector process carries it out."""
    command = AdminCommand(
        meta=command_meta(request, caller),
        action=action,
        target=name,
        parameters={"executor": EXECUTOR, **parameters},
    )
    outcome = await commands.run(
        workflow=ADMIN_COMMAND_WORKFLOW,
        command=command,
        target=CommandTarget(f"admin-{action}-{name}-{uuid.uuid4()}", name, idempotent=False),
        wait=Wait(enabled=False),
        read_back=None,
        location=path_of(request, "list_parked_events", name=name),
    )
    return respond(outcome, extra={"projection": name, **parameters})


def _status(db: Db, caller: Principal, name: str | None = None) -> list[dict[str, object]]:
    if caller.operator:
        rows = [{**row, "scope": "store"} for row in projection_status(db, name)]
    else:
        rows = org_projection_status(db, caller.org_id, name)
    # The followers (record triggers, admin requests, the chain's sealer) are listed too, but
    # only read models can be rebuilt or have parked events retried: say which, for clients.
    return [{**row, "rebuildable": _is_read_model(str(row["name"]))} for row in rows]


def _is_read_model(name: str) -> bool:
    try:
        projection_named(name)
    except KeyError:
        return False
    return True


def _json(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Times and ids as JSON text, the way every other route renders them."""
    loaded: list[dict[str, object]] = json.loads(json.dumps(rows, default=str))
    return loaded
