"""Records the history of a retried execution's run (patch `execution-retry`) into
tests/histories/, for test_replay.py.

    .venv/bin/python -m tests.integration.engine.record_retry_histories

Like record_saga_histories.py it starts its own Temporal dev server, database and HTTP endpoint
and runs the execution on the real worker: a first run assigns a task and fails on a call, the
endpoint is fixed, and a retry (`ExecutionInput.retry`, as POST /executions/{id}/retry starts
it through `worker.starts.retry_execution`) takes the execution up at the failed step, reads an
earlier step's output and completes the first run's task. Record again only for a deliberate
change, behind ``workflow.patched``, beside the old files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from application.delivery.outbound import ALLOW_LOOPBACK
from tests.integration.engine.servers import http_endpoint
from tests.integration.engine.support import definition, start, step
from tests.support.recording import recording_stack
from worker.contracts import ExecutionInput, ExecutionResult, RetryRequest
from worker.main import build_worker
from worker.starts import retry_execution

HISTORIES = Path(__file__).resolve().parents[2] / "histories"


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    with http_endpoint() as endpoint:
        async with (
            recording_stack() as stack,
            build_worker(stack.client, stack.services, stack.queue, outbound=ALLOW_LOOPBACK),
        ):
            client, queue = stack.client, stack.queue
            endpoint.failures["retried"] = 1_000
            body = definition(
                step("review", "assign_task", title="Review", assign_to="role:a"),
                step("calc", "transform", expressions={"who": "contact.first_name"}),
                {
                    **step(
                        "sync", "http_request", method="POST", url=f"{endpoint.url}/flaky/retried"
                    ),
                    "retry": {"attempts": 1},
                },
                step("close", "complete_task", task_from_step="review"),
                step(
                    "tell",
                    "http_request",
                    method="POST",
                    url=f"{endpoint.url}/ok/retried",
                    body={"who": "{{calc.who}}", "task": "{{close.task.status}}"},
                ),
            )
            _, handle = await start(client, queue, body)
            assert (await handle.result()).status == "failed"
            endpoint.failures["retried"] = 0
            first = await _first_input(client, handle.id)
            retry = first.model_copy(
                update={"retry": RetryRequest(from_step="sync", actor="user:a", reason="fixed")}
            )
            await retry_execution(client, queue, retry)
            again = client.get_workflow_handle(handle.id, result_type=ExecutionResult)
            result = await again.result()
            assert result.status == "completed", result
            history = await client.get_workflow_handle(handle.id).fetch_history()
            (HISTORIES / "execution_retried.json").write_text(history.to_json())
            print("recorded execution_retried", len(history.events), "events")


async def _first_input(client: Client, workflow_id: str) -> ExecutionInput:
    """The input the execution's first run started with, from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (payload,) = started.input.payloads
    decoded = pydantic_data_converter.payload_converter.from_payloads([payload], [ExecutionInput])
    value = decoded[0]
    assert isinstance(value, ExecutionInput)
    return value


if __name__ == "__main__":
    asyncio.run(main())
