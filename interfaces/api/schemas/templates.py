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
    definition: dict[str, Any]


class TemplatesPage(BaseModel):
    items: list[TemplatePublic]
    next_cursor: str | None = None


class TemplateInstantiate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
