"""Template DTOs: ``GET /templates[/{key}]`` and ``POST /templates/{key}/instantiate``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from interfaces.api.schemas.common import RequestBody


class TemplatePublic(BaseModel):
    key: str
    name: str
    description: str
    category: str
    tags: list[str] = Field(description="What the template does and uses; `?tag=` filters.")
    configuration_schema: dict[str, Any] = Field(
        description="JSON schema (draft 2020-12) of the `configuration` instantiating asks for."
    )
    required_configuration: list[str] = Field(
        description="The settings instantiating cannot do without (the schema's `required`)."
    )
    configuration_example: dict[str, Any] = Field(
        description="A configuration the schema accepts; `definition` is made with it."
    )
    definition: dict[str, Any] = Field(
        description="The definition the template makes with `configuration_example`."
    )


class TemplatesPage(BaseModel):
    items: list[TemplatePublic]
    next_cursor: str | None = None


class TemplateInstantiate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    configuration: dict[str, Any] | None = Field(
        default=None,
        description="The template's settings, checked against its `configuration_schema`; "
        "absent or null for a template that asks for none (or only for settings with defaults).",
    )
