"""What the HTTP layer and the worker agree on: workflow names, inputs and results.

Each workflow and activity takes one pydantic model (fields can be added later without breaking
running executions) and travels through ``pydantic_data_converter``. The HTTP layer imports only
this module of the worker, so it never pulls workflow or activity code into the API process.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

DEFAULT_TASK_QUEUE = "bytedash"

CONTACT_COMMAND_WORKFLOW = "ContactCommandWorkflow"
TASK_COMMAND_WORKFLOW = "TaskCommandWorkflow"
DEFINITION_COMMAND_WORKFLOW = "DefinitionCommandWorkflow"

# ApplicationError types of refusals: never retried, mapped to 404 / 422 / 409 by the API.
REFUSAL_TYPES = ["NotFound", "InvalidValue", "DefinitionInvalid", "InvalidTransition"]


class CommandMeta(BaseModel):
    """Who sent a command and how to trace it; becomes every resulting event's metadata."""

    org_id: str
    actor: str | None = None  # "user:<sub>"
    source: str = "api"
    correlation_id: str | None = None
    request_id: str | None = None


class ContactCommand(BaseModel):
    meta: CommandMeta
    action: Literal["create", "update", "archive"]
    contact_id: str
    # create: first_name, last_name, email, phone, status, fields.
    # update: only the fields the caller set (a PATCH), status included.
    changes: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None


class TaskCommand(BaseModel):
    meta: CommandMeta
    action: Literal["assign", "update"]
    task_id: str
    # assign: title, description, assigned_to, priority, due_date (ISO text), metadata,
    #   status (applied right after assignment when not "todo").
    # update: only the fields the caller set; due_date ISO text or null.
    changes: dict[str, Any] = Field(default_factory=dict)


class DefinitionCommand(BaseModel):
    meta: CommandMeta
    action: Literal["create", "publish", "activate", "deactivate"]
    definition_id: str
    body: dict[str, Any] | None = None  # create and publish: the definition JSON


class CommandResult(BaseModel):
    """What a command workflow returns to a caller waiting on it."""

    id: str
    # Position of the last event the command appended, or None when it changed nothing;
    # a caller that wants read-your-writes waits until projections pass it.
    position: int | None = None
    version: int | None = None  # definitions: the version the command produced


class CommandFailure(BaseModel):
    """Details carried by a non-retryable ApplicationError, for the API to map to a problem.

    The error's ``type`` is one of: ``NotFound`` (404), ``InvalidValue`` (422, with ``field``),
    ``DefinitionInvalid`` (422, with ``problems``), ``InvalidTransition`` (409).
    """

    message: str
    field: str | None = None
    problems: list[dict[str, Any]] = Field(default_factory=list)
