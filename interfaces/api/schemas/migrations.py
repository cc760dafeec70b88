"""``POST /definitions/{id}/migrations``: move running executions to another version."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from interfaces.api.schemas.common import PublicModel

StepId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")]

# The most executions one request looks at (a list without `execution_ids` stops there and
# says so with `truncated`).
MAX_MIGRATION_EXECUTIONS = 1000


class MigrationCreate(BaseModel):
    """Which version to move to, how the steps map (old step id -> new step id; a step the
    target version has under the same id maps to itself), whether only to say what would
    happen (`dry_run`, the default), and optionally which executions."""

    model_config = ConfigDict(extra="forbid")

    target_version: int = Field(ge=1, le=2_147_483_647)
    step_mapping: dict[StepId, StepId] = Field(default_factory=dict, max_length=1000)
    dry_run: bool = True
    execution_ids: list[UUID] | None = Field(
        default=None, min_length=1, max_length=MAX_MIGRATION_EXECUTIONS
    )


class MigrationItem(PublicModel):
    """One execution: `would_move` (dry run), `moved`, or `not_moved` with the `reason`."""

    execution_id: str
    status: str | None
    definition_version: int | None
    current_step_id: str | None
    outcome: Literal["would_move", "moved", "not_moved"]
    to_step: str | None = None
    reason: str | None = None


class MigrationReport(PublicModel):
    definition_id: str
    target_version: int
    dry_run: bool
    moved: int  # moved, or in a dry run would move
    not_moved: int
    truncated: bool = False
    executions: list[MigrationItem]
