"""What every route shares about answering: the base path, the documented answers of command
routes, and the one responder that turns a command's `Outcome` into HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse

from interfaces.api.commands import Outcome
from interfaces.api.schemas.common import CommandAccepted

# Base path of every resource router.
API_PREFIX = "/api/v1"

# OpenAPI descriptions of the answers every command route may give.
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": CommandAccepted,
        "description": "Accepted: the command's workflow runs (or ran). `Location` and "
        "`status_url` name `GET /api/v1/commands/{workflow_id}`, which tells its fate.",
    },
    404: {"description": "No such resource in the caller's org."},
    409: {"description": "The resource's state does not allow this change."},
    422: {"description": "A field is invalid; `errors` names each one."},
    504: {"description": "`wait=true`: the change was not visible in time."},
}


def path_of(request: Request, route_name: str, **params: str) -> str:
    return str(request.app.url_path_for(route_name, **params))


def status_path(workflow_id: str) -> str:
    """Where a command's fate is read: the `get_command` route
    (`interfaces.api.routers.commands`). Built here rather than from the app's routes because
    the answer of a command needs no request to be built."""
    return f"{API_PREFIX}/commands/{quote(workflow_id, safe='')}"


def respond(
    outcome: Outcome, *, extra: Mapping[str, Any] | None = None, status: int | None = None
) -> JSONResponse:
    """The answer to a command: the resource once visible (201 created, 200 changed), else 202
    with the workflow id and the resource's id, or 200 with ``duplicate`` for a repeat.

    An answer without the resource points at the command's status (``status_url`` and
    ``Location``): its fate is always knowable there, pending, succeeded or failed. The
    resource's own address stays in ``Location`` of a 201/200 with the resource.

    `extra` adds fields a route alone knows (a webhook secret, say); `status` overrides the code
    of an answer that is not 202 by nature (a rotated secret is final at once).
    """
    headers = {"X-Workflow-Id": outcome.workflow_id}
    if outcome.location is not None:
        headers["Location"] = outcome.location
    if outcome.resource is not None:
        body = {**outcome.resource, **(extra or {})}
        return JSONResponse(body, status_code=201 if outcome.created else 200, headers=headers)
    status_url = status_path(outcome.workflow_id)
    headers["Location"] = status_url
    accepted: dict[str, Any] = {
        "workflow_id": outcome.workflow_id,
        "id": outcome.resource_id,
        "status_url": status_url,
    }
    result = outcome.result
    if outcome.with_version:
        accepted["version"] = result.version if result is not None else None
    if result is not None and result.webhook_secret_generation is not None:
        accepted["webhook_secret_generation"] = result.webhook_secret_generation
    if outcome.duplicate:
        accepted["duplicate"] = True
    accepted.update(extra or {})
    code = status if status is not None else (200 if outcome.duplicate else 202)
    return JSONResponse(accepted, status_code=code, headers=headers)
