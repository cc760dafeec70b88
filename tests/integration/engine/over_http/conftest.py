"""The API stack (tests/integration/api/conftest.py) for the step types that are driven here
entirely over HTTP: definitions posted to /api/v1/definitions, executions started with
POST /api/v1/executions, the timeline read back from GET /api/v1/executions/{id}."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.bundle import build_services
from application.delivery.llm import LlmEndpoint
from application.delivery.outbound import ALLOW_LOOPBACK
from interfaces.api import create_app
from tests.integration.api.conftest import (  # noqa: F401 - fixtures, found by name
    Stack,
    api_settings,
    module_database_url,
    projector_running,
    serving,
    stack,
)
from tests.integration.engine.llm_server import ChatServer, chat_server
from worker.main import build_worker

LLM_KEY = "sk-test-llm-key"


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    with chat_server() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def llm_stack(
    temporal_env: WorkflowEnvironment,
    module_database_url: str,  # noqa: F811 - the fixture imported above
    projector_running: None,  # noqa: F811
    chat: ChatServer,
) -> AsyncIterator[Stack]:
    """The API stack with LLM_BASE_URL and LLM_API_KEY set, for the API and the worker."""
    task_queue = f"llm-{uuid.uuid4().hex[:8]}"
    services = build_services(module_database_url)
    settings = api_settings(
        module_database_url, task_queue, llm_base_url=chat.url, llm_api_key=LLM_KEY
    )
    app = create_app(settings, temporal_client=temporal_env.client)
    endpoint = LlmEndpoint(chat.url, LLM_KEY)
    worker = build_worker(
        temporal_env.client, services, task_queue, llm=endpoint, outbound=ALLOW_LOOPBACK
    )
    try:
        async with worker, serving(app) as http:
            yield Stack(app, http, module_database_url, task_queue, services)
    finally:
        services.close()
