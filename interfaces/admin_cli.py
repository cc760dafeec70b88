"""``bytedash projections rebuild|verify|reset|retry|skip``: the admins' replay tooling.

Each command first records the action as an event (``AdminCommandWorkflow``: who did what to
which projection), then runs it here with a progress bar. Recording goes through Temporal like
every other write, so the command refuses to run when Temporal cannot be reached rather than
leave an unrecorded rebuild or skip behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from worker.contracts import ADMIN_COMMAND_WORKFLOW, AdminCommand, CommandMeta, CommandResult
from worker.converter import PayloadKeys, payload_keys, sealed_data_converter


def operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator:unknown"


class AdminRecordError(RuntimeError):
    """The action could not be recorded; the message names the address tried and what to
    check."""


# Seconds to reach Temporal and to learn whether a worker polls the task queue: a server that
# answers at all answers within this, so more only delays the message a person waits for.
CONNECT_TIMEOUT = 5.0
# A worker long-polls its task queue for up to a minute at a time: a poller last seen longer
# ago than this has gone (Temporal lists it for some minutes more).
POLLER_FRESHNESS = timedelta(seconds=90)


# How many Temporal clients this process connected: `bytedash` then exits without the
# interpreter's finalization (interfaces/cli.py, _exit_before_finalization).
CLIENTS_USED = 0


def record_admin_action(
    *,
    address: str,
    namespace: str,
    task_queue: str,
    org_id: str,
    action: str,
    target: str,
    parameters: dict[str, Any],
    timeout: float = 20.0,
    sealed_by: tuple[str, bytes | None, bytes | None] | None = None,
) -> str:
    """Record the action through the worker; returns the AdminAction id.

    Before anything is sent, Temporal must answer at `address` and a worker must be polling
    `task_queue` there: without that check a command waited its whole timeout for a workflow
    nobody would run, and its workflow stayed queued, to be recorded later by whichever worker
    came, after the command had given up. A workflow that gets no answer within `timeout` is
    terminated for the same reason. `sealed_by` (database URL, master key, previous master
    key) seals the command's payloads like the API's (application/privacy/codec.py)."""
    where = f"Temporal at {address} (namespace {namespace!r}, task queue {task_queue!r})"

    async def run() -> str:
        keys = None if sealed_by is None else payload_keys(*sealed_by)
        try:
            return await record(keys)
        finally:
            if keys is not None:
                await keys.close()

    async def record(keys: PayloadKeys | None) -> str:
        global CLIENTS_USED
        CLIENTS_USED += 1
        converter = pydantic_data_converter if keys is None else sealed_data_converter(keys)
        try:
            client = await asyncio.wait_for(
                Client.connect(address, namespace=namespace, data_converter=converter),
                CONNECT_TIMEOUT,
            )
        except (TimeoutError, RuntimeError, OSError) as e:
            detail = "no answer" if isinstance(e, TimeoutError) else str(e).split("\n")[0]
            raise AdminRecordError(
                f"could not reach {where}: {detail}. Check that `bytedash up` (or the Temporal "
                "server) runs there, or set TEMPORAL_ADDRESS"
            ) from None
        await _check_worker(client, where, namespace, task_queue)
        workflow_id = f"admin-{action}-{target}-{uuid.uuid4()}"
        handle = await client.start_workflow(
            ADMIN_COMMAND_WORKFLOW,
            AdminCommand(
                meta=CommandMeta(org_id=org_id, actor=operator(), source="cli"),
                action=action,
                target=target,
                parameters=parameters,
            ),
            id=workflow_id,
            task_queue=task_queue,
            result_type=CommandResult,
        )
        try:
            result: CommandResult = await asyncio.wait_for(handle.result(), timeout)
        except TimeoutError:
            with contextlib.suppress(RPCError):
                await handle.terminate(reason=f"the CLI gave up after {timeout:.0f} s")
            raise AdminRecordError(
                f"no worker on {where} ran workflow {workflow_id} within {timeout:.0f} s "
                "(terminated, nothing recorded). Check the worker's log: is it stuck, or "
                "unable to reach its database?"
            ) from None
        except WorkflowFailureError as e:
            raise AdminRecordError(f"workflow {workflow_id} failed: {e.cause or e}") from None
        return result.id

    return asyncio.run(run())


async def _check_worker(client: Client, where: str, namespace: str, task_queue: str) -> None:
    try:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timedelta(seconds=CONNECT_TIMEOUT),
        )
    except RPCError as e:
        raise AdminRecordError(
            f"{where} refused to describe the task queue ({e.message}). Check "
            "TEMPORAL_NAMESPACE and that this is the stack's Temporal server"
        ) from None
    now = datetime.now(UTC)
    live = [
        poller
        for poller in described.pollers
        if now - poller.last_access_time.ToDatetime(UTC) < POLLER_FRESHNESS
    ]
    if not live:
        raise AdminRecordError(
            f"no worker polls {where}. Check that `bytedash up` or `bytedash worker` runs "
            "against this server with the same TEMPORAL_TASK_QUEUE"
        )
