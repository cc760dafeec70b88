"""An administrator's action on the system itself: rebuilding, verifying or resetting a
projection, retrying or skipping a parked event.

Read models are derived data, but who rebuilt or skipped what, and when, is part of the record
an auditor relies on: a skipped event changes what the read side shows. Each action is an
aggregate of its own, recorded before the operation runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import InvalidValueError
from domain.values import id_text, json_object, required_text, utc

ACTIONS = ("rebuild", "verify", "reset", "retry_parked", "skip_parked")


class AdminAction(Aggregate):
    class Performed(Aggregate.Created):
        org_id: str
        action: str
        target: str
        parameters: dict[str, Any]

    def __init__(self, *, org_id: str, action: str, target: str, parameters: dict[str, Any]):
        self._org_id = org_id
        self._action = action
        self._target = target
        self._parameters = parameters

    @classmethod
    def perform(
        cls,
        *,
        action_id: UUID,
        org_id: str,
        action: str,
        target: str,
        parameters: Mapping[str, Any] | None,
        at: datetime,
    ) -> AdminAction:
        if action not in ACTIONS:
            raise InvalidValueError(
                f"{action!r} is not an admin action; use one of {', '.join(ACTIONS)}.",
                field="action",
            )
        return cls._create(
            cls.Performed,
            id=action_id,
            timestamp=utc(at),
            org_id=id_text(org_id, field="org_id"),
            action=action,
            target=required_text(target, field="target"),
            parameters=json_object(parameters or {}, field="parameters"),
        )

    @property
    def org_id(self) -> str:
        return self._org_id

    @property
    def action(self) -> str:
        return self._action

    @property
    def target(self) -> str:
        return self._target

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self._parameters)
