"""Records histories of saga compensation (patch `saga-compensation`) and of per-step error
policies into tests/histories/, for test_replay.py.

    .venv/bin/python -m tests.integration.engine.record_saga_histories [NAME ...]

NAME is one of the recorders below (all of them without one). Like record_histories.py it
starts its own Temporal dev server, database and HTTP endpoint and runs each execution on the
real worker; record again only for a deliberate change, behind ``workflow.patched``, beside the
old files.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from application.delivery.outbound import ALLOW_LOOPBACK
from tests.integration.engine.servers import Endpoint, http_endpoint
from tests.integration.engine.support import definition, start, step, until, waiting_at
from tests.support.recording import recording_stack
from worker.contracts import CANCEL_SIGNAL, PARKED_STEP_SIGNAL, CancelRequest, ParkedStepAction
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parents[2] / "histories"


async def _save(client: Client, handle: WorkflowHandle[Any, Any], name: str) -> None:
    history = await client.get_workflow_handle(handle.id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print("recorded", name, len(history.events), "events")


def _undo(body: dict[str, Any], *compensate: dict[str, Any]) -> dict[str, Any]:
    body["compensate"] = list(compensate)
    return body


async def compensation(client: Client, queue: str, endpoint: Endpoint) -> None:
    """A failing call after two completed steps that say how to undo them (an HTTP call and a
    contact change; the update_status compensation is recorded with the next save); an undo
    that keeps failing (compensation_failed); a cancel while waiting (compensations, then the
    open task cancelled)."""
    base = f"{endpoint.url}/ok"
    body = definition(
        _undo(
            step("reserve", "http_request", method="POST", url=f"{base}/reserve"),
            {"type": "http_request", "config": {"method": "POST", "url": f"{base}/release"}},
        ),
        _undo(
            step("mark", "update_contact", fields={"status": "booked"}),
            {"type": "update_contact", "config": {"fields": {"status": "lead"}}},
            {"id": "say", "type": "update_status", "config": {"status": "undone"}},
        ),
        step("charge", "http_request", method="POST", url=f"{endpoint.url}/status/400"),
        statuses=["undone"],
    )
    _, handle = await start(client, queue, body)
    assert (await handle.result()).status == "compensated"
    await _save(client, handle, "execution_compensated")

    endpoint.failures["undo"] = 100
    failing = definition(
        _undo(
            step("reserve", "http_request", method="POST", url=f"{base}/reserve"),
            {
                "type": "http_request",
                "config": {
                    "method": "POST",
                    "url": f"{endpoint.url}/flaky/undo",
                    "retries": 1,
                    "backoff_seconds": 0.1,
                },
            },
        ),
        step("charge", "http_request", method="POST", url=f"{endpoint.url}/status/400"),
    )
    _, handle = await start(client, queue, failing)
    assert (await handle.result()).status == "compensation_failed"
    await _save(client, handle, "execution_compensation_failed")

    waiting = definition(
        _undo(
            step("task", "assign_task", title="Review", assign_to="role:hr"),
            {
                "type": "update_task",
                "config": {"task_from_step": "task", "updates": {"title": "Withdrawn"}},
            },
        ),
        step("wait", "wait_for_task", task_from_step="task"),
    )
    _, handle = await start(client, queue, waiting)
    await waiting_at(handle, "wait")
    await handle.signal(CANCEL_SIGNAL, CancelRequest(reason="withdrawn", actor="user:1"))
    assert (await handle.result()).status == "compensated"
    await _save(client, handle, "execution_compensated_on_cancel")


async def error_policy(client: Client, queue: str, endpoint: Endpoint) -> None:
    """A step's own retry, `on_failure: continue` and a jump to a step, and `park`: retried by
    an admin (the second run succeeds), and skipped."""
    endpoint.failures["policy"] = 2
    body = definition(
        {
            **step("flaky", "http_request", method="POST", url=f"{endpoint.url}/flaky/policy"),
            "retry": {"attempts": 3, "backoff_seconds": 0.1},
        },
        {
            **step("gone", "http_request", method="GET", url=f"{endpoint.url}/status/404"),
            "on_failure": "continue",
        },
        {
            **step("charge", "http_request", method="POST", url=f"{endpoint.url}/status/402"),
            "on_failure": "manual",
        },
        step("skipped", "update_status", status="never"),
        step("manual", "update_status", status="by_hand"),
        statuses=["never", "by_hand"],
    )
    _, handle = await start(client, queue, body)
    assert (await handle.result()).status == "completed"
    await _save(client, handle, "execution_error_policy")

    endpoint.failures["parked"] = 1
    parking = definition(
        {
            **step("sync", "http_request", method="POST", url=f"{endpoint.url}/flaky/parked"),
            "retry": {"attempts": 1},
            "on_failure": "park",
        },
        {
            **step("push", "http_request", method="POST", url=f"{endpoint.url}/status/400"),
            "on_failure": "park",
        },
        step("done", "update_status", status="synced"),
        statuses=["synced"],
    )
    _, handle = await start(client, queue, parking)
    await until(handle, lambda s: s.status == "needs_attention" and s.current_step_id == "sync")
    await handle.signal(
        PARKED_STEP_SIGNAL, ParkedStepAction(step_id="sync", action="retry", actor="user:a")
    )
    await until(handle, lambda s: s.status == "needs_attention" and s.current_step_id == "push")
    await handle.signal(
        PARKED_STEP_SIGNAL,
        ParkedStepAction(step_id="push", action="skip", actor="user:a", reason="done by hand"),
    )
    assert (await handle.result()).status == "completed"
    await _save(client, handle, "execution_parked_retried_and_skipped")


RECORDERS: dict[str, Callable[[Client, str, Endpoint], Awaitable[None]]] = {
    "compensation": compensation,
    "error_policy": error_policy,
}


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    with http_endpoint() as endpoint:
        async with (
            recording_stack() as stack,
            build_worker(stack.client, stack.services, stack.queue, outbound=ALLOW_LOOPBACK),
        ):
            for name in names or list(RECORDERS):
                await asyncio.wait_for(RECORDERS[name](stack.client, stack.queue, endpoint), 120)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
