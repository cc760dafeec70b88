"""``GET /commands/{workflow_id}``: the fate of a command the API accepted.

Every ``202`` points here (``Location`` and ``status_url``), so that a command is never lost in
silence: a client that got ``202`` (or lost its connection while waiting) learns whether the
command is still running, succeeded (with the resource it created or changed) or failed (with
the problem it would have been answered with). Temporal is the source: the route reads the
workflow's state, memo and result and never the database, so it answers the same whether or
not the read side has caught up. Any role of the org may read it, like every read route;
another org's workflow id answers 404, exactly like an unknown one.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request

from interfaces.api.commands import Fate
from interfaces.api.deps import Caller, Commands
from interfaces.api.problems import command_problem, not_found, problem_body
from interfaces.api.responses import API_PREFIX, path_of
from interfaces.api.schemas.commands import CommandResource, CommandStatus

router = APIRouter(prefix=API_PREFIX, tags=["commands"])

# The workflow ids the API hands out: `contact-create-<uuid>`, `task-update-<uuid>-<uuid>`,
# `execution-<uuid>`… Anything else cannot be one of them, and answers 404 without asking
# Temporal.
WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
# The route that reads each kind of resource, and its path parameter.
READ_ROUTES = {
    "contact": ("get_contact", "contact_id"),
    "task": ("get_task", "task_id"),
    "definition": ("get_definition", "definition_id"),
    "execution": ("get_execution", "execution_id"),
}


@router.get(
    "/commands/{workflow_id}",
    name="get_command",
    responses={404: {"description": "No such command in the caller's org."}},
)
async def get_command_route(
    workflow_id: Annotated[str, Path(max_length=200)],
    caller: Caller,
    commands: Commands,
    request: Request,
) -> CommandStatus:
    if not WORKFLOW_ID.match(workflow_id):
        raise not_found("command", workflow_id)
    fate = await commands.fate(workflow_id, caller.org_id)
    if fate is None:
        raise not_found("command", workflow_id)
    return _status(request, fate)


def _status(request: Request, fate: Fate) -> CommandStatus:
    if fate.status == "failed" and fate.error is not None:
        problem = command_problem(fate.error)
        body = problem_body(
            problem.status,
            problem.detail,
            instance=None,
            type_=problem.type_,
            title=problem.title,
            errors=problem.errors,
            extra=problem.extra,
        )
        return CommandStatus(workflow_id=fate.workflow_id, status="failed", problem=body)
    if fate.status == "succeeded" and fate.resource_id is not None:
        resource = CommandResource.model_validate(
            {"type": fate.resource_type, "id": fate.resource_id, "url": _url(request, fate)}
        )
        return CommandStatus(workflow_id=fate.workflow_id, status="succeeded", resource=resource)
    return CommandStatus(workflow_id=fate.workflow_id, status=fate.status)


def _url(request: Request, fate: Fate) -> str | None:
    """Where the resource is read: as the command's start said, else by its kind's route."""
    if fate.location is not None:
        return fate.location
    route = READ_ROUTES.get(fate.resource_type)
    if route is None or fate.resource_id is None:
        return None
    name, parameter = route
    return path_of(request, name, **{parameter: fate.resource_id})
