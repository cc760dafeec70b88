"""Commands over HTTP: run a command workflow, start or signal an execution, and say what came of
it as data (an `Outcome`), which `interfaces.api.responses.respond` turns into the answer.

The API never writes the database. A command route validates its body, picks the workflow id
(the command's idempotency key), starts the workflow on the worker's task queue and waits for
its result, which is quick, so that a refusal (not found, invalid value, invalid transition)
reaches the caller as a 404/422/409 problem. If no result comes within the context's
``command_accept_timeout`` (say the worker is down) the command is still accepted: Temporal
runs it when a worker is back, and the client has its ``workflow_id``.

``?wait=true`` then waits until the read side shows the write (`read_your_write`, the one
poller), and the outcome carries the resource as its GET route returns it.

A command's fate is always knowable: `CommandGateway.fate` asks Temporal (never the database)
whether a command's workflow is still running, succeeded (and with which resource) or failed
(and why), for `GET /api/v1/commands/{workflow_id}`, where every 202 points. A command that
failed for a reason that is not a refusal (its retry window ran out during an outage, say) runs
again when its client resends it with the same Idempotency-Key (`_start_once`).

What goes wrong is raised as a `CommandError`; `interfaces.api.problems` alone decides how each
looks over HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import structlog
from fastapi import Request
from psycopg import Connection
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from interfaces.api.auth import Principal
from interfaces.api.context import ApiContext
from worker.contracts import (
    ADMIN_COMMAND_WORKFLOW,
    CONTACT_COMMAND_WORKFLOW,
    DEFINITION_COMMAND_WORKFLOW,
    EXECUTION_WORKFLOW,
    MEMO_ORG_ID,
    REFUSAL_TYPES,
    SEARCH_CONTACT_ID,
    SEARCH_DEFINITION_ID,
    SEARCH_ORG_ID,
    TASK_COMMAND_WORKFLOW,
    CommandFailure,
    CommandMeta,
    CommandResult,
    ExecutionInput,
    ExecutionResult,
    execution_workflow_id,
)
from worker.converter import PayloadKeyError
from worker.search_attributes import start_indexed
from worker.secret_contracts import SECRET_COMMAND_WORKFLOW
from worker.starts import Origin, start_execution

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Default and longest `?wait_timeout=` (seconds).
DEFAULT_WAIT_TIMEOUT = 5.0
# How often `?wait=true` looks at the read side.
POLL_INTERVAL = 0.01
# Namespace of the uuid5s derived from Idempotency-Key headers (fixed forever: changing it
# would make a client's retry run its command a second time).
IDEMPOTENCY_NAMESPACE = uuid.UUID("5f0d6a2e-8f1b-4c55-9a8e-3c1b7f6d2a90")
MEMO_DIGEST = "request_digest"
# Memo keys of a command workflow besides the org: the resource it creates or changes and where
# that resource is read, so that its status can name them while it still runs.
MEMO_RESOURCE_ID = "resource_id"
MEMO_LOCATION = "location"
# The kind of resource each workflow the API starts acts on (`GET /commands/{id}` answers for
# these workflows only).
RESOURCE_TYPES = {
    CONTACT_COMMAND_WORKFLOW: "contact",
    TASK_COMMAND_WORKFLOW: "task",
    DEFINITION_COMMAND_WORKFLOW: "definition",
    ADMIN_COMMAND_WORKFLOW: "admin_action",
    EXECUTION_WORKFLOW: "execution",
    SECRET_COMMAND_WORKFLOW: "secret",
}
# A closed run that may run again under its id when its client resends the command.
_ENDED_WITHOUT_OUTCOME = frozenset(
    {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.CANCELED,
        WorkflowExecutionStatus.TIMED_OUT,
    }
)
_STILL_RUNNING = frozenset(
    {WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW}
)

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


# -- what came of a command ------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a command came to. Without `resource` it was accepted (202): `result` is the
    workflow's result, or None while it still runs. With `resource` (``?wait=true``) the write
    is visible and `resource` is what the resource's GET route returns."""

    workflow_id: str
    resource_id: str
    location: str | None
    result: CommandResult | None = None
    resource: dict[str, Any] | None = None
    created: bool = False
    # Definitions answer with the version the command produced.
    with_version: bool = False
    # A repeated delivery or start: the first one's ids, and nothing new ran.
    duplicate: bool = False


@dataclass(frozen=True)
class Fate:
    """What a command's workflow came to, as Temporal tells it: still running (`pending`),
    `succeeded` with the resource it created or changed, or `failed` with the `error` that
    `interfaces.api.problems.command_problem` turns into the problem a waiting caller gets."""

    workflow_id: str
    status: Literal["pending", "succeeded", "failed"]
    resource_type: str
    resource_id: str | None = None
    # Where the resource is read, when the command's start said so (else the route derives it).
    location: str | None = None
    error: CommandError | None = None


@dataclass(eq=False)
class CommandError(Exception):
    """A command that did not come to an outcome; `interfaces.api.problems` maps each kind."""

    workflow_id: str
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)


@dataclass(eq=False)
class CommandRefusedError(CommandError):
    """The worker refused the command: ``kind`` is one of `REFUSAL_TYPES`."""

    kind: str
    failure: CommandFailure


@dataclass(eq=False)
class CommandCrashedError(CommandError):
    """The command failed in the worker for a reason that is not a refusal (logged there)."""


@dataclass(eq=False)
class NotVisibleYetError(CommandError):
    resource_id: str
    why: str


@dataclass(eq=False)
class ResourceGoneError(CommandError):
    """The read side passed the command's last event but has no such resource."""

    resource_id: str


@dataclass(eq=False)
class IdempotencyKeyReusedError(CommandError):
    """The Idempotency-Key was first used for a different request."""


@dataclass(eq=False)
class ExecutionNotRunningError(CommandError):
    execution_id: str


# -- the gateway -----------------------------------------------------------------------------


class CommandGateway:
    """Runs command workflows, starts and signals executions for the routes of one app."""

    def __init__(self, context: ApiContext) -> None:
        self._context = context
        self._task_queue = context.settings.temporal_task_queue

    async def run(
        self,
        *,
        workflow: str,
        command: BaseModel,
        target: CommandTarget,
        wait: Wait,
        read_back: ReadBack | None,
        location: str | None = None,
        created: bool = False,
        with_version: bool = False,
    ) -> Outcome:
        """Run a command workflow and wait for its result (or accept it when none comes in
        time); with ``wait`` and a `read_back`, wait until the read side shows it too.
        `location` is where the resource is read, when there is no `read_back` to say so."""
        deadline = time.monotonic() + (
            wait.timeout if wait.enabled else self._context.command_accept_timeout
        )
        resource_location = read_back.location if read_back is not None else location
        memo = {
            MEMO_ORG_ID: command_org(command),
            MEMO_RESOURCE_ID: target.resource_id,
            MEMO_LOCATION: resource_location,
        }
        with structlog.contextvars.bound_contextvars(workflow_id=target.workflow_id):
            result = await self._run(workflow, command, target, deadline, memo)
            outcome = Outcome(
                workflow_id=target.workflow_id,
                resource_id=result.id if result is not None else target.resource_id,
                location=resource_location,
                result=result,
                created=created,
                with_version=with_version,
            )
            if not wait.enabled or read_back is None:
                if result is None:
                    log.warning("command.accepted_without_result", workflow=workflow)
                return outcome
            if result is None:
                raise NotVisibleYetError(
                    target.workflow_id, target.resource_id, "its workflow has not finished"
                )
            return await self._visible(outcome, read_back, result.position, deadline)

    async def start(
        self, execution: ExecutionInput, origin: Origin, *, wait: Wait, read_back: ReadBack
    ) -> Outcome:
        """Start an execution through `worker.starts.start_execution`, the path every origin
        takes; with ``wait``, until the executions read model shows it."""
        started = await start_execution(
            self._context.require_temporal(), self._task_queue, execution, origin
        )
        outcome = Outcome(
            workflow_id=started.workflow_id,
            resource_id=started.execution_id,
            location=read_back.location,
            created=True,
            duplicate=started.duplicate,
        )
        if not wait.enabled:
            return outcome
        return await self._visible(outcome, read_back, None, time.monotonic() + wait.timeout)

    async def signal(self, execution_id: str, signal: str, argument: BaseModel) -> Outcome:
        """Deliver a signal to a running execution."""
        workflow_id = execution_workflow_id(execution_id)
        handle = self._context.require_temporal().get_workflow_handle(workflow_id)
        try:
            await handle.signal(signal, argument)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise ExecutionNotRunningError(workflow_id, execution_id) from None
            raise
        return Outcome(workflow_id=workflow_id, resource_id=execution_id, location=None)

    # -- running the workflow ------------------------------------------------------------------

    async def _run(
        self,
        workflow: str,
        command: BaseModel,
        target: CommandTarget,
        deadline: float,
        memo: dict[str, Any],
    ) -> CommandResult | None:
        """The workflow's result; None when it did not finish before `deadline`."""
        client = self._context.require_temporal()
        if target.idempotent:
            handle = await self._start_once(client, workflow, command, target, memo)
        else:
            handle = await start_indexed(
                client,
                workflow,
                command,
                search_attributes=_search_attributes(workflow, memo),
                id=target.workflow_id,
                task_queue=self._task_queue,
                result_type=CommandResult,
                memo=memo,
            )
        try:
            result: CommandResult = await self._context.until_stopping(
                handle.result(), timeout=max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            return None
        except WorkflowFailureError as e:
            raise command_failure(e, target.workflow_id) from None
        return result

    async def _start_once(
        self,
        client: Client,
        workflow: str,
        command: BaseModel,
        target: CommandTarget,
        memo: dict[str, Any],
    ) -> WorkflowHandle[Any, CommandResult]:
        """Start the workflow, or find the one an earlier request with the same key started.

        Running: USE_EXISTING attaches to it. Completed or refused: REJECT_DUPLICATE refuses to
        run it again and we read its outcome, so the same request gets the same answer. Failed
        for any other reason (its retry window ran out during an outage, an operator terminated
        it): it runs again, under the same id (ALLOW_DUPLICATE_FAILED_ONLY), so a resent request
        is not answered ``command-failed`` forever; its events derive their ids from the
        workflow id, so what the failed run did append is not appended twice. The memo holds a
        digest of the request so that a key reused for another request is refused.
        """
        digest = request_digest(workflow, command)
        memo = {**memo, MEMO_DIGEST: digest}
        handle = await self._start(
            client, workflow, command, target, memo, WorkflowIDReusePolicy.REJECT_DUPLICATE
        )
        description = await handle.describe()
        if (await description.memo()).get(MEMO_DIGEST) != digest:
            raise IdempotencyKeyReusedError(target.workflow_id)
        if description.status in _ENDED_WITHOUT_OUTCOME and not await _refused(handle):
            log.info("command.rerun", previous=_status_name(description))
            handle = await self._start(
                client,
                workflow,
                command,
                target,
                memo,
                WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        return handle

    async def _start(
        self,
        client: Client,
        workflow: str,
        command: BaseModel,
        target: CommandTarget,
        memo: dict[str, Any],
        reuse: WorkflowIDReusePolicy,
    ) -> WorkflowHandle[Any, CommandResult]:
        """Start the workflow under `reuse`; a running one is attached to (USE_EXISTING), and
        a closed one that `reuse` keeps is returned as it is."""
        try:
            handle: WorkflowHandle[Any, CommandResult] = await start_indexed(
                client,
                workflow,
                command,
                search_attributes=_search_attributes(workflow, memo),
                id=target.workflow_id,
                task_queue=self._task_queue,
                result_type=CommandResult,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=reuse,
                memo=memo,
            )
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(target.workflow_id, result_type=CommandResult)
        return handle

    # -- a command's fate ----------------------------------------------------------------------

    async def fate(self, workflow_id: str, org_id: str) -> Fate | None:
        """What became of the command (or execution) `workflow_id`, as Temporal tells it;
        None when it is unknown to Temporal, not a command of the API, or another org's.

        Reads nothing from the database: the workflow's state, memo and result are enough.
        Temporal forgets a closed workflow after the namespace's retention period; the workflow
        of an erased contact is unreadable from the erasure on (its payload key is destroyed,
        docs/auditing.md) and is unknown here too.
        """
        try:
            return await self._fate(workflow_id, org_id)
        except PayloadKeyError as error:
            log.info("command.fate_unreadable", workflow_id=workflow_id, reason=str(error))
            return None

    async def _fate(self, workflow_id: str, org_id: str) -> Fate | None:
        client = self._context.require_temporal()
        handle = client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return None
            raise
        resource_type = RESOURCE_TYPES.get(description.workflow_type)
        if resource_type is None:
            return None
        memo = await description.memo()
        owner = memo.get(MEMO_ORG_ID) or await self._org_of_input(handle)
        if owner != org_id:
            return None
        resource_id = memo.get(MEMO_RESOURCE_ID)
        if resource_type == "execution":
            resource_id = workflow_id.removeprefix(execution_workflow_id(""))
        known = Fate(
            workflow_id,
            "pending",
            resource_type,
            resource_id=resource_id if isinstance(resource_id, str) else None,
            location=memo.get(MEMO_LOCATION) if isinstance(memo.get(MEMO_LOCATION), str) else None,
        )
        if description.status in _STILL_RUNNING:
            return known
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await self._succeeded(handle, known)
        if resource_type == "execution" and description.status == WorkflowExecutionStatus.CANCELED:
            return replace(known, status="succeeded")  # cancelled by a Temporal cancel request
        # Failed, terminated or timed out: a refusal says why; anything else names how the
        # workflow ended (the cause is in the worker's log, not for the client).
        failure: CommandError = CommandCrashedError(workflow_id)
        try:
            await handle.result()
        except WorkflowFailureError as error:
            failure = failure_of(error, workflow_id)
        if isinstance(failure, CommandCrashedError):
            failure.extra["workflow_status"] = _status_name(description)
        return replace(known, status="failed", error=failure)

    async def _succeeded(self, handle: WorkflowHandle[Any, Any], known: Fate) -> Fate:
        """The resource a completed command names (a definition's or an admin action's id
        comes from its result)."""
        result = await handle.result()
        resource_id = known.resource_id
        if isinstance(result, dict):
            found = result.get("id") or result.get("execution_id")
            resource_id = str(found) if found is not None else resource_id
        elif isinstance(result, CommandResult):
            resource_id = result.id
        elif isinstance(result, ExecutionResult):
            resource_id = result.execution_id
        return replace(known, status="succeeded", resource_id=resource_id)

    async def _org_of_input(self, handle: WorkflowHandle[Any, Any]) -> str | None:
        """The org of a workflow started without the org in its memo (before the memo held
        it): its input's ``meta.org_id``, from the first event of its history."""
        client = self._context.require_temporal()
        async for event in handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            if not started.input.payloads:
                return None
            (first, *_) = await client.data_converter.decode(list(started.input.payloads))
            meta = first.get("meta") if isinstance(first, dict) else None
            org = meta.get("org_id") if isinstance(meta, dict) else None
            return org if isinstance(org, str) else None
        return None

    # -- read-your-writes ----------------------------------------------------------------------

    async def _visible(
        self, outcome: Outcome, read_back: ReadBack, position: int | None, deadline: float
    ) -> Outcome:
        caught_up, row = await self.read_your_write(read_back, position, deadline)
        if not caught_up:
            raise NotVisibleYetError(
                outcome.workflow_id, outcome.resource_id, "the read side has not caught up with it"
            )
        if row is None:
            raise ResourceGoneError(outcome.workflow_id, outcome.resource_id)
        resource = read_back.public.model_validate(row).model_dump(mode="json")
        return replace(outcome, resource=resource)

    async def read_your_write(
        self, read_back: ReadBack, position: int | None, deadline: float
    ) -> tuple[bool, dict[str, Any] | None]:
        """The one poller behind ``?wait=true``: whether the read side showed the write before
        the deadline, and the resource's row as it then stood.

        With the `position` of the command's last event, the write shows once the resource's
        projection has passed it; without one (an execution just started, whose events the
        workflow appends later), once the resource's row exists.
        """
        while True:
            if position is None or (
                await run_in_threadpool(self._tracking_position, read_back.projection) >= position
            ):
                row = await run_in_threadpool(self.read, read_back.read)
                if row is not None or position is not None:
                    return True, row
            if time.monotonic() >= deadline or self._context.stopping.is_set():
                return False, None
            await asyncio.sleep(POLL_INTERVAL)

    def _tracking_position(self, projection: str) -> int:
        with self._context.pool.connection() as conn:
            row = conn.execute(_TRACKING_POSITION, (projection,)).fetchone()
        if row is None:
            return 0
        return int(row["position"] if isinstance(row, dict) else row[0])

    def read(self, read: Callable[[Connection[Any]], T]) -> T:
        """Run a read-model query on a pooled connection (blocking: call it in a thread)."""
        with self._context.pool.connection() as conn:
            return read(conn)


def _search_attributes(workflow: str, memo: dict[str, Any]) -> list[SearchAttributePair[Any]]:
    """A command workflow is found by its org, and a contact's or a definition's command by
    that contact or definition too (docs/operations.md, "Finding workflows")."""
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(SEARCH_ORG_ID, memo[MEMO_ORG_ID])]
    resource = memo.get(MEMO_RESOURCE_ID)
    if isinstance(resource, str) and workflow == CONTACT_COMMAND_WORKFLOW:
        pairs.append(SearchAttributePair(SEARCH_CONTACT_ID, resource))
    if isinstance(resource, str) and workflow == DEFINITION_COMMAND_WORKFLOW:
        pairs.append(SearchAttributePair(SEARCH_DEFINITION_ID, resource))
    return pairs


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


def command_failure(error: WorkflowFailureError, workflow_id: str) -> CommandError:
    """A failed command workflow as a refusal (with what the worker said) or a crash, which
    is logged: the caller who waited on it hears only that it failed."""
    failure = failure_of(error, workflow_id)
    if isinstance(failure, CommandCrashedError):
        log.error("command.failed", error=str(error), cause=repr(error.__cause__))
    return failure


def failure_of(error: WorkflowFailureError, workflow_id: str) -> CommandError:
    """A failed command workflow as a refusal (with what the worker said) or a crash."""
    refusal = _refusal_in(error)
    if refusal is None or refusal.type is None:
        return CommandCrashedError(workflow_id)
    return CommandRefusedError(workflow_id, kind=refusal.type, failure=_failure(refusal))


def _refusal_in(error: WorkflowFailureError) -> ApplicationError | None:
    return next(
        (
            cause
            for cause in _causes(error)
            if isinstance(cause, ApplicationError) and cause.type in REFUSAL_TYPES
        ),
        None,
    )


async def _refused(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the closed run of `handle` failed because the command was refused: a refusal
    is the command's answer and stands; any other ending may be run again."""
    try:
        await handle.result()
    except WorkflowFailureError as error:
        return _refusal_in(error) is not None
    return False


def _status_name(description: WorkflowExecutionDescription) -> str:
    status = description.status
    return "unknown" if status is None else status.name.lower()


def command_org(command: BaseModel) -> str | None:
    """The org a command belongs to, from its metadata."""
    meta = getattr(command, "meta", None)
    return meta.org_id if isinstance(meta, CommandMeta) else None


def _failure(error: ApplicationError) -> CommandFailure:
    details = error.details
    if details and isinstance(details[0], dict):
        try:
            return CommandFailure.model_validate(details[0])
        except ValueError:
            pass
    return CommandFailure(message=error.message)
