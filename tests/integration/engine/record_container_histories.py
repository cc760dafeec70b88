"""Records the histories of the container step types (`parallel`, `for_each`) into
tests/histories/, for test_replay.py.

    .venv/bin/python -m tests.integration.engine.record_container_histories [NAME ...]

NAME is one of the recorders below (all of them without one). Like record_step_histories.py it
starts its own Temporal dev server and database and runs each execution on the real worker;
record again only for a deliberate change, behind ``workflow.patched``, beside the old files.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from application.delivery.outbound import ALLOW_LOOPBACK
from tests.integration.engine.servers import http_endpoint
from tests.integration.engine.support import change_task, definition, start, step, until
from tests.support.recording import recording_stack
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parents[2] / "histories"
URL: list[str] = []  # the local HTTP endpoint's address, once started


async def _save(
    client: Client, handle: WorkflowHandle[Any, Any], name: str, run_id: str | None = None
) -> None:
    """The history of the handle's latest run, or of `run_id`."""
    history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print("recorded", name, len(history.events), "events")


def _reviews(join: str) -> dict[str, Any]:
    def branch(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "steps": [
                step(f"{name}_task", "assign_task", title=f"{name} review", assign_to="role:a"),
                step(f"{name}_wait", "wait_for_task", task_from_step=f"{name}_task"),
            ],
        }

    return {
        "id": "reviews",
        "type": "parallel",
        "name": "Reviews",
        "config": {"join": join, "branches": [branch("legal"), branch("finance")]},
    }


async def parallel(client: Client, queue: str) -> None:
    """Two reviews at once joined by `all` (both tasks done, a later step reads a branch's
    output); joined by `any` (the other branch cancelled: its wait and task); and a failing
    branch that fails the parallel step, whose completed branch step is then undone."""
    for join in ("all", "any"):
        body = definition(
            _reviews(join),
            step("after", "transform", expressions={"legal": "legal_wait.task.status"}),
        )
        _, handle = await start(client, queue, body)
        state = await until(
            handle,
            lambda s: len(s.branches) == 2 and all(b.status == "waiting" for b in s.branches),
            20,
        )
        for task in state.tasks:
            await change_task(client, queue, task.task_id, status="done")
            if join == "any":
                break
        assert (await handle.result()).status == "completed"
        await _save(client, handle, f"execution_parallel_{join}")
    made = step("made", "create_contact", fields={"first_name": "Branchy"})
    made["compensate"] = {"type": "archive_contact", "config": {"reason": "undone"}}
    made["compensate"]["config"]["contact_id"] = "{{made.contact.id}}"
    body = definition(
        {
            "id": "both",
            "type": "parallel",
            "name": "Both",
            "config": {
                "branches": [
                    {"name": "records", "steps": [made, step("pause", "delay", seconds=30)]},
                    {
                        "name": "calls",
                        "steps": [
                            step(
                                "broken", "http_request", method="POST", url=f"{URL[0]}/status/404"
                            )
                        ],
                    },
                ]
            },
        }
    )
    _, handle = await start(client, queue, body)
    assert (await handle.result()).status == "compensated"
    await _save(client, handle, "execution_parallel_failed")


def _loop(items: Any, *steps: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {
        "id": "each",
        "type": "for_each",
        "name": "Each",
        "config": {"items": items, "steps": list(steps), **config},
    }


async def for_each(client: Client, queue: str) -> None:
    """A loop over three documents (a task per item, a transform reading the item and the
    task), batched like the execution's own steps; one whose second iteration fails; and a
    loop of 150 iterations that continues as new after 100 (its first and last runs)."""
    body = definition(
        _loop(
            "{{payload.documents}}",
            step("check", "assign_task", title="Check {{loop.item}}", assign_to="role:a"),
            step("note", "transform", expressions={"item": "loop.item", "task": "check.task.id"}),
        ),
        step("after", "transform", expressions={"n": "each.count"}),
    )
    _, handle = await start(client, queue, body, payload={"documents": ["a", "b", "c"]})
    assert (await handle.result()).status == "completed"
    await _save(client, handle, "execution_for_each")
    failing = definition(
        _loop(
            ["2030-01-01T00:00:00+00:00", "next week"],
            step("task", "assign_task", title="T", assign_to="role:a", due_date="{{loop.item}}"),
        )
    )
    _, handle = await start(client, queue, failing)
    assert (await handle.result()).status == "failed"
    await _save(client, handle, "execution_for_each_failed")
    long = definition(
        _loop(
            "{{payload.numbers}}",
            step("calc", "transform", expressions={"n": "loop.item"}),
            max_items=150,
        )
    )
    _, handle = await start(client, queue, long, payload={"numbers": list(range(150))})
    assert (await handle.result()).status == "completed"
    assert handle.first_execution_run_id is not None
    await _save(client, handle, "execution_for_each_first_run", handle.first_execution_run_id)
    await _save(client, handle, "execution_for_each_last_run")


RECORDERS: dict[str, Callable[[Client, str], Awaitable[None]]] = {
    "parallel": parallel,
    "for_each": for_each,
}


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    with http_endpoint() as endpoint:
        URL.append(endpoint.url)
        async with (
            recording_stack() as stack,
            build_worker(stack.client, stack.services, stack.queue, outbound=ALLOW_LOOPBACK),
        ):
            for name in names or list(RECORDERS):
                await asyncio.wait_for(RECORDERS[name](stack.client, stack.queue), 120)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
