"""One way to start an execution, whatever started it: `POST /executions`, a signed webhook, a
record trigger or a schedule's firing.

Each of them names its origin (`Origin`), builds the input with `execution_input` and calls
`start_execution`. The execution id derives from the origin, so a repeat of the same start (a
retried request with its Idempotency-Key, a redelivered webhook, a replayed contact event, a
retried firing) names the same execution, whose workflow Temporal refuses to start twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from temporalio.client import Client
from temporalio.common import SearchAttributePair, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from worker.contracts import (
    EXECUTION_WORKFLOW,
    MEMO_ORG_ID,
    SEARCH_CONTACT_ID,
    SEARCH_DEFINITION_ID,
    SEARCH_DEFINITION_VERSION,
    SEARCH_ORG_ID,
    SEARCH_STATUS,
    CommandMeta,
    ExecutionInput,
    execution_workflow_id,
)
from worker.search_attributes import start_indexed

Source = Literal["api", "webhook", "trigger", "schedule"]

# Fixed forever, with the name formats below: ids already handed out must derive the same
# again, or a repeated start would become a second execution.
_IDEMPOTENCY = uuid.UUID("5f0d6a2e-8f1b-4c55-9a8e-3c1b7f6d2a90")
_TRIGGERED = uuid.UUID("0b7f3a52-6a0e-4f4c-8d1f-2e9c1b5d7a43")
_SCHEDULED = uuid.UUID("7c3e9d8a-51f4-4b8e-9f0a-2d6b4c1e8a55")
_DERIVATIONS: dict[Source, tuple[uuid.UUID, str]] = {
    "api": (_IDEMPOTENCY, "{scope}\x1fexecution.start\x1f{key}"),
    "webhook": (_IDEMPOTENCY, "{scope}\x1fwebhook\x1f{key}"),
    "trigger": (_TRIGGERED, "{scope}:{key}"),
    "schedule": (_SCHEDULED, "{key}"),
}

# What an execution keeps of its definition's version for its whole life.
BODY_KEYS = ("name", "description", "statuses", "steps")


@dataclass(frozen=True)
class Origin:
    """What started an execution, and what makes a repeat of it the same start.

    `scope` is the org (api) or the definition (webhook, trigger); `key` is the Idempotency-Key,
    the delivery id, the event position or the firing's workflow id. Without a key (a
    `POST /executions` without Idempotency-Key) every start is a new execution.
    """

    source: Source
    scope: str = ""
    key: str | None = None

    @property
    def once(self) -> bool:
        return self.key is not None

    def execution_id(self) -> str:
        if self.key is None:
            return str(uuid.uuid4())
        namespace, name = _DERIVATIONS[self.source]
        return str(uuid.uuid5(namespace, name.format(scope=self.scope, key=self.key)))


def definition_body(version: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised body of a definition version, from a read-model row, a recorded
    ``VersionPublished`` or the aggregate's version."""
    return {
        "name": version.get("name"),
        "description": version.get("description"),
        "statuses": version.get("statuses") or [],
        "steps": version.get("steps") or [],
    }


def execution_input(
    *,
    meta: CommandMeta,
    execution_id: str,
    definition_id: str,
    definition_version: int,
    definition: Mapping[str, Any],
    trigger: Mapping[str, Any],
    contact_id: str | None = None,
    contact: Mapping[str, Any] | None = None,
    input: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
) -> ExecutionInput:
    return ExecutionInput(
        meta=meta,
        execution_id=execution_id,
        definition_id=definition_id,
        definition_version=definition_version,
        definition=definition_body(definition),
        contact_id=contact_id,
        contact=None if contact is None else dict(contact),
        input=dict(input or {}),
        payload=dict(payload or {}),
        trigger=dict(trigger),
    )


def search_attributes(execution: ExecutionInput) -> list[SearchAttributePair[Any]]:
    """What an execution's workflow is found by from its start; the workflow keeps them
    current (`Engine.index`). A start is `running` (the status field of the read model)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(SEARCH_ORG_ID, execution.meta.org_id),
        SearchAttributePair(SEARCH_DEFINITION_ID, execution.definition_id),
        SearchAttributePair(SEARCH_DEFINITION_VERSION, execution.definition_version),
        SearchAttributePair(SEARCH_STATUS, "running"),
    ]
    if execution.contact_id is not None:
        pairs.append(SearchAttributePair(SEARCH_CONTACT_ID, execution.contact_id))
    return pairs


@dataclass(frozen=True)
class Started:
    execution_id: str
    workflow_id: str
    # True when an earlier start with the same origin had started it: nothing new runs.
    duplicate: bool


async def start_execution(
    client: Client, task_queue: str, execution: ExecutionInput, origin: Origin
) -> Started:
    """Start the execution's workflow (id ``execution-<execution id>``).

    A keyed origin starts at most once (REJECT_DUPLICATE also refuses an id whose workflow has
    closed); an unkeyed one has a fresh id, and a clash would be a bug, so it raises.

    A retry (`execution.retry` set, see `retry_execution`) is not a start: use that.
    """
    if execution.retry is not None:
        raise ValueError("a retried execution runs again through retry_execution")
    workflow_id = execution_workflow_id(execution.execution_id)
    try:
        await start_indexed(
            client,
            EXECUTION_WORKFLOW,
            execution,
            search_attributes=search_attributes(execution),
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=(
                WorkflowIDReusePolicy.REJECT_DUPLICATE
                if origin.once
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE
            ),
            memo={MEMO_ORG_ID: execution.meta.org_id},
        )
    except WorkflowAlreadyStartedError:
        if not origin.once:
            raise
        return Started(execution.execution_id, workflow_id, duplicate=True)
    return Started(execution.execution_id, workflow_id, duplicate=False)


async def retry_execution(client: Client, task_queue: str, execution: ExecutionInput) -> Started:
    """Run a failed or timed-out execution again: a new run of its own workflow id
    ``execution-<id>`` (so signals, task changes and queries keep finding it), whose input
    carries the definition version it ran and `retry` (`RetryRequest`); the run takes up the
    execution's state from the store (`Engine.resume`).

    ALLOW_DUPLICATE lets the id run again once its last run has closed (a failed execution's
    run completes normally, with the status as its result), whatever policy its first start
    had; FAIL refuses it while a run is open (a retry already under way): that raises
    `WorkflowAlreadyStartedError`.
    """
    if execution.retry is None:
        raise ValueError("retry_execution needs an input with `retry`")
    workflow_id = execution_workflow_id(execution.execution_id)
    await start_indexed(
        client,
        EXECUTION_WORKFLOW,
        execution,
        search_attributes=search_attributes(execution),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        memo={MEMO_ORG_ID: execution.meta.org_id},
    )
    return Started(execution.execution_id, workflow_id, duplicate=False)
