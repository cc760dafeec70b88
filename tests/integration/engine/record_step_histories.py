"""Records the histories of the step types added after record_histories.py's set (transform,
create_contact / archive_contact, llm) into tests/histories/, for test_replay.py.

    .venv/bin/python -m tests.integration.engine.record_step_histories [NAME ...]

NAME is one of the recorders below (all of them without one). Like record_histories.py it
starts its own Temporal dev server and database, and runs each execution on the real worker;
record again only for a deliberate change, behind ``workflow.patched``, beside the old files.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from application.delivery.llm import LlmEndpoint
from application.delivery.outbound import ALLOW_LOOPBACK
from tests.integration.engine.llm_server import chat_server
from tests.integration.engine.support import definition, start, step
from tests.support.recording import recording_stack
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parents[2] / "histories"


async def _save(client: Client, handle: WorkflowHandle[Any, Any], name: str) -> None:
    history = await client.get_workflow_handle(handle.id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print("recorded", name, len(history.events), "events")


async def transform(client: Client, queue: str) -> None:
    """A transform between two recording steps (it is recorded with the next one's save), and
    one that fails on the data."""
    body = definition(
        step("calc", "transform", expressions={"total": "sum(payload.items[].price)"}),
        step("review", "assign_task", title="Total {{calc.total}}", assign_to="role:a"),
    )
    _, handle = await start(client, queue, body, payload={"items": [{"price": 2}, {"price": 3}]})
    assert (await handle.result()).status == "completed"
    await _save(client, handle, "execution_transform")
    failing = definition(step("calc", "transform", expressions={"n": "sum(payload.items)"}))
    _, handle = await start(client, queue, failing, payload={"items": ["x"]})
    assert (await handle.result()).status == "failed"
    await _save(client, handle, "execution_transform_failed")


async def records(client: Client, queue: str) -> None:
    """create_contact, then archive_contact of the contact it created and of the execution's
    own (each a local activity recording the step and the contact event in one save)."""
    body = definition(
        step("new", "create_contact", fields={"first_name": "Grace", "fields.n": 1}),
        step("drop", "archive_contact", contact_id="{{new.contact.id}}", reason="duplicate"),
        step("own", "archive_contact"),
    )
    _, handle = await start(client, queue, body)
    assert (await handle.result()).status == "completed"
    await _save(client, handle, "execution_record_actions")


async def llm(client: Client, queue: str) -> None:
    """llm steps against the local chat-completions server (tests/integration/engine/
    llm_server.py): JSON output read by a later step, a 429 retried, a 400 failing the step."""
    body = definition(
        step(
            "ask",
            "llm",
            model="json",
            system="Sort mail.",
            prompt="Classify: {{payload.subject}}",
            response_format="json",
            price_per_1k_input_tokens=0.5,
        ),
        step("use", "transform", expressions={"category": "ask.json.category"}),
        step("review", "assign_task", title="{{use.category}}", assign_to="role:a"),
    )
    _, handle = await start(client, queue, body, payload={"subject": "Invoice"})
    assert (await handle.result()).status == "completed"
    await _save(client, handle, "execution_llm")
    busy = definition(step("ask", "llm", model="busy-r", prompt="Hi", backoff_seconds=0.2))
    _, handle = await start(client, queue, busy)
    assert (await handle.result()).status == "completed"
    await _save(client, handle, "execution_llm_retried")
    refused = definition(step("ask", "llm", model="status-400", prompt="Hi"))
    _, handle = await start(client, queue, refused)
    assert (await handle.result()).status == "failed"
    await _save(client, handle, "execution_llm_failed")


RECORDERS: dict[str, Callable[[Client, str], Awaitable[None]]] = {
    "transform": transform,
    "records": records,
    "llm": llm,
}


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    with chat_server() as chat:
        async with (
            recording_stack() as stack,
            build_worker(
                stack.client,
                stack.services,
                stack.queue,
                llm=LlmEndpoint(chat.url, "sk-record"),
                outbound=ALLOW_LOOPBACK,
            ),
        ):
            for name in names or list(RECORDERS):
                await asyncio.wait_for(RECORDERS[name](stack.client, stack.queue), 120)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
