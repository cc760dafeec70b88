"""An llm step on a worker without LLM_BASE_URL (an execution started before the setting was
removed; the API refuses new definitions with one) fails at once, saying why."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.integration.engine.support import definition, event_types, start, step


async def test_an_llm_step_on_a_worker_without_an_endpoint_fails_naming_the_setting(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str, engine_db: str
) -> None:
    body = definition(step("ask", "llm", model="any", prompt="Hello"))
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    result = await handle.result()

    assert result.status == "failed"
    assert result.error == (
        "Step 'ask' (ask): LLM_BASE_URL is not set for the worker, so llm steps cannot run."
    )
    assert event_types(engine_db, execution_id)[-2:] == [
        "StepStarted(ask)",
        "Failed(ask)",
    ]
