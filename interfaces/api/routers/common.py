"""Small helpers the resource routers share."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from interfaces.api.problems import NOT_FOUND, ProblemError
from interfaces.api.schemas.common import CommandAccepted

# Base path of every resource router (contract.md, "HTTP API").
API_PREFIX = "/api/v1"

# OpenAPI descriptions of the answers every command route may give.
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandAccepted, "description": "Accepted: the command's workflow ran."},
    404: {"description": "No such resource in the caller's org."},
    409: {"description": "The resource's state does not allow this change."},
    422: {"description": "A field is invalid; `errors` names each one."},
    504: {"description": "`wait=true`: the change was not visible in time."},
}


def not_found(kind: str, resource_id: str) -> ProblemError:
    """The same answer for a missing id, a malformed id and another org's id."""
    return ProblemError(404, f"{kind} {resource_id} was not found.", type_=NOT_FOUND)


def path_of(request: Request, route_name: str, **params: str) -> str:
    return str(request.app.url_path_for(route_name, **params))
