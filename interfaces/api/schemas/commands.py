"""What `GET /api/v1/commands/{workflow_id}` answers: a command's fate."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class CommandResource(BaseModel):
    """The resource a command created or changed, and where it is read."""

    type: Literal["contact", "task", "definition", "admin_action", "execution", "secret"]
    id: str
    url: str | None


class CommandStatus(BaseModel):
    """``pending`` while the command's workflow runs (an execution: while it runs, which may be
    days; its steps are at ``GET /executions/{id}``), ``succeeded`` with the `resource`, or
    ``failed`` with the `problem` (the problem document a caller waiting on the command would
    have received: ``type``, ``title``, ``status``, ``detail``, and ``errors`` for a refused
    value)."""

    workflow_id: str
    status: Literal["pending", "succeeded", "failed"]
    resource: CommandResource | None = None
    problem: dict[str, Any] | None = None
