"""Search attributes on the workflows the product starts, and what happens on a server that
does not know them.

A Temporal server refuses a start that carries a search attribute its namespace has not
registered (INVALID_ARGUMENT, "no mapping defined for search attribute"). An operator who
skipped `temporal operator search-attribute create` (docs/deployment.md) must not find every
execution and command refused: `start_indexed` then starts the workflow without attributes (it
runs as before, only unlisted by `--query`) and logs an error naming the command to run, and
`check_search_attributes` logs the same when the worker starts (the API starts workflows
through `start_indexed` too, so it degrades the same way and logs each refusal). The workflow
upserts attributes only when its start carried them (`Engine.index`), so an unindexed workflow
never upserts an attribute the server would refuse.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.service import RPCError, RPCStatusCode

from worker.contracts import SEARCH_ATTRIBUTES

log = structlog.get_logger(__name__)

_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
}
# After a start was refused for want of attributes, starts go without them for this long before
# trying again: an operator who registers them meanwhile is picked up without a restart.
RETRY_AFTER_SECONDS = 60.0
# The check at start is advice: it never holds a process's start for long.
CHECK_TIMEOUT = 10.0
_unindexed_until: dict[tuple[str, str], float] = {}


def type_name(key: SearchAttributeKey[Any]) -> str:
    return _TYPE_NAMES[key.indexed_value_type]


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register the product's attributes."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={type_name(key)}"]
    return flags


def create_command(namespace: str, names: list[str] | None = None) -> str:
    """The commands an operator runs to register the attributes (`names`, else all): one per
    attribute, since the CLI (1.9) registers only the first `--name` of a command."""
    return " && ".join(
        f"temporal operator search-attribute create --namespace {namespace} "
        f"--name {key.name} --type {type_name(key)}"
        for key in SEARCH_ATTRIBUTES
        if names is None or key.name in names
    )


async def missing_search_attributes(client: Client) -> list[str]:
    """The product's attributes the client's namespace lacks (or holds with another type)."""
    answer = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    registered = dict(answer.custom_attributes)
    missing = []
    for key in SEARCH_ATTRIBUTES:
        kind = registered.get(key.name)
        if kind is None or int(kind) != int(key.indexed_value_type):
            missing.append(key.name)
    return missing


async def check_search_attributes(client: Client) -> list[str]:
    """Log an error naming the command to run when the namespace lacks the attributes; the
    process starts anyway (workflows then start without them). Returns the missing names. A
    server that does not answer the question (no operator service, no permission) is logged
    and treated as knowing them: starts fall back on their own if it does not."""
    try:
        missing = await asyncio.wait_for(missing_search_attributes(client), CHECK_TIMEOUT)
    except (RPCError, TimeoutError) as e:
        log.warning("search_attributes.unchecked", error=str(e) or type(e).__name__)
        return []
    if missing:
        log.error(
            "search_attributes.missing",
            namespace=client.namespace,
            missing=missing,
            consequence="workflows start without search attributes: "
            "`temporal workflow list --query` will not find them",
            fix=create_command(client.namespace, missing),
        )
    return missing


def _where(client: Client) -> tuple[str, str]:
    return (client.service_client.config.target_host, client.namespace)


def _refused_for_attributes(error: RPCError) -> bool:
    return error.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in str(error)


async def start_indexed(
    client: Client,
    workflow: str,
    arg: Any,
    *,
    search_attributes: list[SearchAttributePair[Any]],
    **options: Any,
) -> WorkflowHandle[Any, Any]:
    """`client.start_workflow` with `search_attributes`, or without them when the server does
    not know them (see the module docstring). Any other error is the caller's."""
    where = _where(client)
    if _unindexed_until.get(where, 0.0) <= time.monotonic():
        try:
            return await client.start_workflow(
                workflow,
                arg,
                search_attributes=TypedSearchAttributes(search_attributes),
                **options,
            )
        except RPCError as e:
            if not _refused_for_attributes(e):
                raise
            _unindexed_until[where] = time.monotonic() + RETRY_AFTER_SECONDS
            log.error(
                "search_attributes.refused",
                namespace=client.namespace,
                error=str(e),
                consequence="workflows start without search attributes",
                fix=create_command(client.namespace),
            )
    return await client.start_workflow(workflow, arg, **options)
