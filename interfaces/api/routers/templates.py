"""``/templates``: the library of ready-made definitions.

Instantiating one (``POST /templates/{key}/instantiate``) creates a definition, so that route
lives with the other definition commands in definitions.py.
"""

from __future__ import annotations

from fastapi import APIRouter

from domain.definition_library import LIBRARY, DefinitionTemplate, template_named
from interfaces.api.deps import Caller
from interfaces.api.problems import not_found
from interfaces.api.responses import API_PREFIX
from interfaces.api.schemas.templates import TemplatePublic, TemplatesPage

router = APIRouter(prefix=API_PREFIX, tags=["templates"])


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
