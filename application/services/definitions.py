"""Workflow definition commands: create, publish a new version, activate, deactivate."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from application.metadata import CommandContext
from application.services.base import Outcome, Service, derived_id
from domain.definition import WorkflowDefinition


class DefinitionService(Service):
    def create_definition(
        self,
        ctx: CommandContext,
        body: Mapping[str, Any],
        definition_id: UUID | None = None,
    ) -> UUID:
        new_id = definition_id or derived_id("workflow_definition", ctx)

        def run(now: datetime) -> Outcome:
            definition = WorkflowDefinition.create(
                definition_id=new_id, org_id=ctx.org_id, body=body, at=now
            )
            return new_id, [definition]

        return self._execute(ctx, run)

    def publish_version(
        self, ctx: CommandContext, definition_id: UUID, body: Mapping[str, Any]
    ) -> UUID:
        def run(now: datetime) -> Outcome:
            definition = self._load(WorkflowDefinition, "definition", definition_id, ctx)
            definition.publish_version(body=body, at=now)
            return definition_id, [definition]

        return self._execute(ctx, run)

    def activate(self, ctx: CommandContext, definition_id: UUID) -> UUID:
        def run(now: datetime) -> Outcome:
            definition = self._load(WorkflowDefinition, "definition", definition_id, ctx)
            definition.activate(at=now)
            return definition_id, [definition]

        return self._execute(ctx, run)

    def deactivate(self, ctx: CommandContext, definition_id: UUID) -> UUID:
        def run(now: datetime) -> Outcome:
            definition = self._load(WorkflowDefinition, "definition", definition_id, ctx)
            definition.deactivate(at=now)
            return definition_id, [definition]

        return self._execute(ctx, run)

    def get_definition(self, ctx: CommandContext, definition_id: UUID) -> WorkflowDefinition:
        return self._read(WorkflowDefinition, "definition", definition_id, ctx)

    def rotate_webhook_secret(self, ctx: CommandContext, definition_id: UUID) -> UUID:
        def run(now: datetime) -> Outcome:
            definition = self._load(WorkflowDefinition, "definition", definition_id, ctx)
            definition.rotate_webhook_secret(at=now)
            return definition_id, [definition]

        return self._execute(ctx, run)
