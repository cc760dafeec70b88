"""An llm step whose worker is killed (SIGKILL) while the model is answering: a new worker makes
the call again and the execution goes on (create_contact, archive_contact after it), with
nothing recorded twice."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from temporalio.testing import WorkflowEnvironment

from application.bundle import Services
from application.delivery.llm import LlmEndpoint
from application.delivery.outbound import ALLOW_LOOPBACK
from application.metadata import CommandContext
from tests.integration.engine.llm_server import ChatServer, chat_server
from tests.integration.engine.support import (
    definition,
    duplicated_events,
    event_types,
    events,
    start,
    step,
)
from worker.main import build_worker

ROOT = Path(__file__).resolve().parents[3]
CTX = CommandContext(org_id="org_e", command_id="reader")


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    with chat_server() as server:
        yield server


async def _until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_an_llm_call_cut_off_by_a_killed_worker_is_made_again_by_the_next(
    temporal_env: WorkflowEnvironment, engine_services: Services, engine_db: str, chat: ChatServer
) -> None:
    client = temporal_env.client
    queue = f"llm-killed-{uuid.uuid4().hex[:8]}"
    model = f"slow-{uuid.uuid4().hex[:6]}"
    body = definition(
        step("ask", "llm", model=model, prompt="Name: {{contact.first_name}}", timeout_seconds=1),
        step("copy", "create_contact", fields={"first_name": "{{ask.content}}"}),
        step("drop", "archive_contact", contact_id="{{copy.contact.id}}"),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.engine.llm_worker_process",
        engine_db,
        client.service_client.config.target_host,
        queue,
        chat.url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"ready"
        execution_id, handle = await start(
            client, queue, body, contact={"first_name": "Ada"}, task_timeout=timedelta(seconds=2)
        )
        await _until(lambda: chat.hits[model] == 1)  # the model is answering, slowly
    finally:
        process.kill()  # SIGKILL: the call in flight is simply gone
        await process.wait()

    async with build_worker(
        client, engine_services, queue, llm=LlmEndpoint(chat.url), outbound=ALLOW_LOOPBACK
    ):
        result = await asyncio.wait_for(handle.result(), 60)

    assert result.status == "completed", result.error
    assert chat.hits[model] == 2
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert execution.step_outputs["ask"]["content"] == "Name: Ada"
    assert execution.step_outputs["ask"]["attempts"] == 2
    assert execution.step_outputs["copy"]["contact"]["first_name"] == "Name: Ada"
    assert event_types(engine_db, execution_id) == [
        "Created",
        "Started",
        "StepStarted(start)",
        "StepCompleted(start)",
        "StepStarted(ask)",
        "HttpRequestMade(ask)",
        "StepCompleted(ask)",
        "StepStarted(copy)",
        "StepCompleted(copy)",
        "StepStarted(drop)",
        "StepCompleted(drop)",
        "Completed",
    ]
    copied = execution.step_outputs["copy"]["contact"]["id"]
    assert duplicated_events(engine_db, [execution_id, copied]) == []
    made = [
        e for e in events(engine_db, execution_id) if e["event_type"].endswith("HttpRequestMade")
    ]
    assert made[0]["activity_id"] is not None
    assert made[0]["workflow_id"] == f"execution-{execution_id}"
