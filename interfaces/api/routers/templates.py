"""``/templates``: the library of ready-made definitions.

Instantiating one (``POST /templates/{key}/instantiate``) creates a definition, so that route
lives with the other definition commands in definitions.py; what it makes of the template and
its configuration (`instantiated`) is here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from domain.definition_library import (
    DefinitionTemplate,
    TemplateConfigurationError,
    template_named,
    templates_matching,
)
from interfaces.api.deps import Caller
from interfaces.api.problems import VALIDATION, ProblemError, not_found
from interfaces.api.responses import API_PREFIX
from interfaces.api.schemas.templates import TemplateInstantiate, TemplatePublic, TemplatesPage

router = APIRouter(prefix=API_PREFIX, tags=["templates"])

Label = Annotated[str, Query(min_length=1, max_length=64)]


def _public(template: DefinitionTemplate) -> TemplatePublic:
    return TemplatePublic(
        key=template.key,
        name=template.name,
        description=template.description,
        category=template.category,
        tags=list(template.tags),
        configuration_schema=template.configuration_schema,
        required_configuration=template.required_configuration,
        configuration_example=template.example,
        definition=template.body,
    )


@router.get("/templates", name="list_templates")
def list_templates_route(
    caller: Caller,
    category: Annotated[Label | None, Query(description="Only this category's.")] = None,
    tag: Annotated[
        list[Label] | None,
        Query(max_length=10, description="Only templates with this tag (repeat: with every one)."),
    ] = None,
) -> TemplatesPage:
    found = templates_matching(category, tuple(tag or ()))
    return TemplatesPage(items=[_public(t) for t in found])


@router.get("/templates/{key}", name="get_template")
def get_template_route(key: str, caller: Caller) -> TemplatePublic:
    template = template_named(key)
    if template is None:
        raise not_found("template", key)
    return _public(template)


def instantiated(template: DefinitionTemplate, body: TemplateInstantiate | None) -> dict[str, Any]:
    """The definition a template makes with the request's name and configuration; a
    configuration its schema refuses is a 422 naming every bad or missing setting
    (`configuration.<name>`), before any workflow starts."""
    try:
        return template.instantiate(
            name=body.name if body else None,
            configuration=body.configuration if body else None,
        )
    except TemplateConfigurationError as refused:
        raise ProblemError(
            422,
            str(refused),
            type_=VALIDATION,
            title="Invalid template configuration",
            errors=[
                {
                    "field": f"configuration.{p.field}" if p.field else "configuration",
                    "message": p.message,
                    "location": "body",
                }
                for p in refused.problems
            ],
        ) from refused
