"""Commands over HTTP: run a command workflow by name, map its refusal, offer read-your-writes.

The API never writes the database. A command route validates its body, picks the workflow id
(the command's idempotency key), starts the workflow on the worker's task queue and waits for
its result, which is quick, so that a refusal (not found, invalid value, invalid transition)
reaches the caller as a 404/422/409 problem. If no result comes within the context's
``command_accept_timeout`` (say the worker is down) the command is still accepted: Temporal
runs it when a worker is back, and the client has its ``workflow_id``.

``?wait=true`` then waits until the projection that serves the resource has passed the
command's last event position, and answers with the resource as its GET route returns it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from psycopg import Connection
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from interfaces.api.auth import Principal
from interfaces.api.context import ApiContext
from interfaces.api.problems import (
    COMMAND_FAILED,
    CONFLICT,
    IDEMPOTENCY_KEY_REUSED,
    NOT_FOUND,
    NOT_VISIBLE_YET,
    VALIDATION,
    ProblemError,
)
from worker.contracts import REFUSAL_TYPES, CommandFailure, CommandMeta, CommandResult

log = structlog.get_logger(__name__)

# Default and longest `?wait_timeout=` (seconds).
DEFAULT_WAIT_TIMEOUT = 5.0
# How often `?wait=true` looks at the projection's tracking position.
POLL_INTERVAL = 0.01
# Namespace of the uuid5s derived from Idempotency-Key headers (fixed forever: changing it
# would make a client's retry run its command a second time).
IDEMPOTENCY_NAMESPACE = uuid.UUID("5f0d6a2e-8f1b-4c55-9a8e-3c1b7f6d2a90")
MEMO_DIGEST = "request_digest"

_TRACKING_POSITION = "SELECT position FROM projection_tracking WHERE name = %s"


@dataclass(frozen=True)
class CommandTarget:
    """The workflow id a command runs under and the resource it creates or changes."""

    workflow_id: str
    resource_id: str
    # True when derived from an Idempotency-Key: a repeat finds the first run.
    idempotent: bool


def creation_target(kind: str, principal: Principal, key: str | None) -> CommandTarget:
    """A new resource's id and its creation workflow's id (``contact-create-<id>``).

    With an Idempotency-Key both derive from (org, kind, key), so a retried request names the
    same resource and the same workflow.
    """
    resource = (
        uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{principal.org_id}\x1f{kind}.create\x1f{key}")
        if key is not None
        else uuid.uuid4()
    )
    return CommandTarget(f"{kind}-create-{resource}", str(resource), key is not None)


def change_target(
    kind: str, action: str, principal: Principal, resource_id: str, key: str | None
) -> CommandTarget:
    """The workflow id of a command on an existing resource (``task-update-<id>-<uuid>``)."""
    suffix = (
        uuid.uuid5(
            IDEMPOTENCY_NAMESPACE,
            f"{principal.org_id}\x1f{kind}.{action}\x1f{resource_id}\x1f{key}",
        )
        if key is not None
        else uuid.uuid4()
    )
    return CommandTarget(f"{kind}-{action}-{resource_id}-{suffix}", resource_id, key is not None)


def command_meta(request: Request, principal: Principal) -> CommandMeta:
    """Who sent the command and how to trace it: becomes every resulting event's metadata."""
    return CommandMeta(
        org_id=principal.org_id,
        actor=principal.actor,
        source="api",
        correlation_id=getattr(request.state, "correlation_id", None),
        request_id=getattr(request.state, "request_id", None),
    )


@dataclass(frozen=True)
class ReadBack:
    """How ``?wait=true`` finds the resource once its projection has caught up."""

    projection: str
    read: Callable[[Connection[Any]], dict[str, Any] | None]
    public: type[BaseModel]
    location: str


@dataclass(frozen=True)
class Wait:
    enabled: bool
    timeout: float = DEFAULT_WAIT_TIMEOUT


class CommandGateway:
    """Runs command workflows for the routes of one app."""

    def __init__(self, context: ApiContext) -> None:
        self._context = context
        self._task_queue = context.settings.temporal_task_queue

    async def execute(
        self,
        *,
        workflow: str,
        command: BaseModel,
        target: CommandTarget,
        wait: Wait,
        read_back: ReadBack,
        created: bool,
        with_version: bool = False,
    ) -> JSONResponse:
        deadline = time.monotonic() + (
            wait.timeout if wait.enabled else self._context.command_accept_timeout
        )
        with structlog.contextvars.bound_contextvars(workflow_id=target.workflow_id):
            result = await self._run(workflow, command, target, deadline)
            headers = {"X-Workflow-Id": target.workflow_id, "Location": read_back.location}
            if not wait.enabled:
                body: dict[str, Any] = {
                    "workflow_id": target.workflow_id,
                    "id": result.id if result else target.resource_id,
                }
                if with_version:
                    body["version"] = result.version if result else None
                if result is not None and result.webhook_secret_generation is not None:
                    body["webhook_secret_generation"] = result.webhook_secret_generation
                if result is None:
                    log.warning("command.accepted_without_result", workflow=workflow)
                return JSONResponse(body, status_code=202, headers=headers)
            if result is None:
                raise self._not_visible(target, "its workflow has not finished")
            if result.position is not None and not await self._visible(
                read_back.projection, result.position, deadline
            ):
                raise self._not_visible(target, "the read side has not caught up with it")
            row = await run_in_threadpool(self._read, read_back.read)
            if row is None:
                raise ProblemError(
                    404,
                    f"{target.resource_id} was not found.",
                    type_=NOT_FOUND,
                    extra={"workflow_id": target.workflow_id},
                )
            resource = read_back.public.model_validate(row).model_dump(mode="json")
            return JSONResponse(resource, status_code=201 if created else 200, headers=headers)

    # -- running the workflow ------------------------------------------------------------------

    async def _run(
        self, workflow: str, command: BaseModel, target: CommandTarget, deadline: float
    ) -> CommandResult | None:
        """The workflow's result; None when it did not finish before `deadline`."""
        client = self._context.require_temporal()
        if target.idempotent:
            handle = await self._start_once(client, workflow, command, target)
        else:
            handle = await client.start_workflow(
                workflow,
                command,
                id=target.workflow_id,
                task_queue=self._task_queue,
                result_type=CommandResult,
            )
        try:
            result: CommandResult = await asyncio.wait_for(
                handle.result(), timeout=max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            return None
        except WorkflowFailureError as e:
            raise command_problem(e, target) from None
        return result

    async def _start_once(
        self, client: Client, workflow: str, command: BaseModel, target: CommandTarget
    ) -> WorkflowHandle[Any, CommandResult]:
        """Start the workflow, or find the one an earlier request with the same key started.

        Running: USE_EXISTING attaches to it. Closed (completed or refused): REJECT_DUPLICATE
        refuses to run it again and we read its outcome. Either way the command runs once. The
        memo holds a digest of the request so that a key reused for another request is refused.
        """
        digest = request_digest(workflow, command)
        try:
            handle: WorkflowHandle[Any, CommandResult] = await client.start_workflow(
                workflow,
                command,
                id=target.workflow_id,
                task_queue=self._task_queue,
                result_type=CommandResult,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={MEMO_DIGEST: digest},
            )
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(target.workflow_id, result_type=CommandResult)
        description = await handle.describe()
        memo = await description.memo()
        if memo.get(MEMO_DIGEST) != digest:
            raise ProblemError(
                422,
                "This Idempotency-Key was already used for a different request.",
                type_=IDEMPOTENCY_KEY_REUSED,
                title="Idempotency-Key reused",
                errors=[
                    {
                        "field": "Idempotency-Key",
                        "message": "Use a new key for a new request.",
                        "location": "header",
                    }
                ],
                extra={"workflow_id": target.workflow_id},
            )
        return handle

    # -- read-your-writes ----------------------------------------------------------------------

    async def _visible(self, projection: str, position: int, deadline: float) -> bool:
        while True:
            current = await run_in_threadpool(self._tracking_position, projection)
            if current >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_INTERVAL)

    def _tracking_position(self, projection: str) -> int:
        with self._context.pool.connection() as conn:
            row = conn.execute(_TRACKING_POSITION, (projection,)).fetchone()
        if row is None:
            return 0
        return int(row["position"] if isinstance(row, dict) else row[0])

    def _read(
        self, read: Callable[[Connection[Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        with self._context.pool.connection() as conn:
            return read(conn)

    @staticmethod
    def _not_visible(target: CommandTarget, why: str) -> ProblemError:
        return ProblemError(
            504,
            f"The command was accepted but is not visible yet: {why}. "
            "Read the resource again later, or follow the workflow.",
            type_=NOT_VISIBLE_YET,
            title="Not visible yet",
            extra={"workflow_id": target.workflow_id, "id": target.resource_id},
        )


def request_digest(workflow: str, command: BaseModel) -> str:
    """What makes two requests "the same" for an Idempotency-Key: the workflow and the command
    without its metadata (a retry has new request and correlation ids)."""
    payload = command.model_dump(mode="json", exclude={"meta"})
    text = json.dumps([workflow, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _causes(error: BaseException) -> Iterator[BaseException]:
    current: BaseException | None = error
    while current is not None:
        yield current
        current = current.__cause__


def command_problem(error: WorkflowFailureError, target: CommandTarget) -> ProblemError:
    """A refused command as 404/422/409; any other failure as a 500 naming the workflow."""
    extra = {"workflow_id": target.workflow_id}
    refusal = next(
        (
            cause
            for cause in _causes(error)
            if isinstance(cause, ApplicationError) and cause.type in REFUSAL_TYPES
        ),
        None,
    )
    if not isinstance(refusal, ApplicationError):
        log.error("command.failed", error=str(error), cause=repr(error.__cause__))
        return ProblemError(
            500,
            "The command failed in the worker; it has been logged.",
            type_=COMMAND_FAILED,
            title="Command failed",
            extra=extra,
        )
    failure = _failure(refusal)
    if refusal.type == "NotFound":
        return ProblemError(404, failure.message, type_=NOT_FOUND, extra=extra)
    if refusal.type == "InvalidTransition":
        return ProblemError(409, failure.message, type_=CONFLICT, extra=extra)
    if refusal.type == "DefinitionInvalid":
        errors = [
            {
                "field": str(problem.get("field") or "body"),
                "message": str(problem.get("message") or ""),
                "step_id": problem.get("step_id"),
                "location": "body",
            }
            for problem in failure.problems
        ]
        return ProblemError(
            422,
            failure.message,
            type_=VALIDATION,
            title="Invalid definition",
            errors=errors,
            extra=extra,
        )
    return ProblemError(
        422,
        failure.message,
        type_=VALIDATION,
        title="Invalid request",
        errors=[{"field": failure.field or "body", "message": failure.message, "location": "body"}],
        extra=extra,
    )


def _failure(error: ApplicationError) -> CommandFailure:
    details = error.details
    if details and isinstance(details[0], dict):
        try:
            return CommandFailure.model_validate(details[0])
        except ValueError:
            pass
    return CommandFailure(message=error.message)
