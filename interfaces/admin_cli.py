"""``bytedash projections rebuild|verify|reset|retry|skip``: the admins' replay tooling.

Each command first records the action as an event (``AdminCommandWorkflow``: who did what to
which projection), then runs it here with a progress bar. Recording goes through Temporal like
every other write, so the command refuses to run when Temporal cannot be reached rather than
leave an unrecorded rebuild or skip behind.
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from worker.contracts import ADMIN_COMMAND_WORKFLOW, AdminCommand, CommandMeta, CommandResult


def operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator:unknown"


def record_admin_action(
    *,
    address: str,
    namespace: str,
    task_queue: str,
    org_id: str,
    action: str,
    target: str,
    parameters: dict[str, Any],
    timeout: float = 30.0,
) -> str:
    """Record the action through the worker; returns the AdminAction id."""

    async def run() -> str:
        client = await asyncio.wait_for(
            Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter),
            timeout,
        )
        result: CommandResult = await asyncio.wait_for(
            client.execute_workflow(
                ADMIN_COMMAND_WORKFLOW,
                AdminCommand(
                    meta=CommandMeta(org_id=org_id, actor=operator(), source="cli"),
                    action=action,
                    target=target,
                    parameters=parameters,
                ),
                id=f"admin-{action}-{target}-{uuid.uuid4()}",
                task_queue=task_queue,
                result_type=CommandResult,
            ),
            timeout,
        )
        return result.id

    return asyncio.run(run())
