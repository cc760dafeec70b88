"""``/templates``: the library of ready-made definitions, and instantiating one.

Instantiating runs the same command as ``POST /definitions`` with the template's body, so the
new definition is an ordinary one: versioned, inactive until activated, editable.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from domain.definition_library import LIBRARY, DefinitionTemplate, template_named
from interfaces.api.commands import creation_target
from interfaces.api.deps import Caller, Commands, DefinitionManager, IdempotencyKey, WaitOption
from interfaces.api.routers.common import API_PREFIX, COMMAND_RESPONSES, not_found
from interfaces.api.routers.definitions import run_definition_command, with_webhook_secret

router = APIRouter(prefix=API_PREFIX, tags=["templates"])


class TemplatePublic(BaseModel):
    key: str
    name: str
    description: str
    category: str
    definition: dict[str, Any]


class TemplatesPage(BaseModel):
    items: list[TemplatePublic]
    next_cursor: str | None = None


class TemplateInstantiate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)


def _public(template: DefinitionTemplate) -> TemplatePublic:
    return TemplatePublic(
        key=template.key,
        name=template.name,
        description=template.description,
        category=template.category,
        definition=template.instantiate(),
    )


@router.get("/templates", name="list_templates")
def list_templates_route(caller: Caller) -> TemplatesPage:
    return TemplatesPage(items=[_public(t) for t in LIBRARY])


@router.get("/templates/{key}", name="get_template")
def get_template_route(key: str, caller: Caller) -> TemplatePublic:
    template = template_named(key)
    if template is None:
        raise not_found("template", key)
    return _public(template)


@router.post(
    "/templates/{key}/instantiate",
    name="instantiate_template",
    status_code=202,
    response_model=None,
    responses=COMMAND_RESPONSES,
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
    template = template_named(key)
    if template is None:
        raise not_found("template", key)
    definition = template.instantiate(name=body.name if body else None)
    target = creation_target("definition", caller, idempotency_key)
    response = await run_definition_command(
        request, commands, caller, target, "create", wait, body=definition, created=True
    )
    return with_webhook_secret(request, definition, target.resource_id, response)
