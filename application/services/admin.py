"""Recording administrators' actions (see domain/admin_action.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from application.metadata import CommandContext
from application.services.base import Outcome, Service, derived_id
from domain.admin_action import AdminAction


class AdminService(Service):
    def record_action(
        self,
        ctx: CommandContext,
        action: str,
        target: str,
        parameters: Mapping[str, Any] | None = None,
    ) -> UUID:
        action_id = derived_id("admin_action", ctx)

        def run(now: datetime) -> Outcome:
            return action_id, [
                AdminAction.perform(
                    action_id=action_id,
                    org_id=ctx.org_id,
                    action=action,
                    target=target,
                    parameters=parameters,
                    at=now,
                )
            ]

        return self._execute(ctx, run)
