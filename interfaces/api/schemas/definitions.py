"""Definition DTOs: commands take the definition JSON itself; reads return these models.

The request body is the raw JSON object rather than a pydantic model on purpose:
`domain.definition_validation` reports every problem at once with the path and step of each,
which is what a builder UI needs, and a model would stop at the first structural mismatch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from interfaces.api.schemas.common import CommandAccepted, PublicModel

DEFINITION_EXAMPLE: dict[str, Any] = {
    "name": "Applicant Onboarding",
    "description": "Review each application within a week.",
    "statuses": [{"id": "approved", "label": "Approved", "color": "green"}],
    "steps": [
        {
            "id": "step_1",
            "type": "trigger",
            "name": "Form Submitted",
            "config": {"type": "manual"},
        },
        {
            "id": "step_2",
            "type": "assign_task",
            "name": "Assign Review Task",
            "config": {
                "title": "Review the application",
                "assign_to": "role:admin",
                "priority": "medium",
            },
        },
    ],
}


class DefinitionSummary(PublicModel):
    """A list item: the definition without its steps (open one for its body)."""

    id: UUID
    org_id: str
    name: str | None
    description: str | None
    current_version: int | None
    is_active: bool
    active_version: int | None
    created_at: datetime
    updated_at: datetime
    version: int


class DefinitionPublic(DefinitionSummary):
    """A definition with the body of one version (the current one, or ``?version=N``)."""

    definition_version: int | None
    statuses: list[dict[str, Any]] | None
    steps: list[dict[str, Any]] | None
    trigger: dict[str, Any] | None
    published_at: datetime | None


class DefinitionsPage(PublicModel):
    items: list[DefinitionSummary]
    next_cursor: str | None


class DefinitionCommandAccepted(CommandAccepted):
    version: int | None = None
