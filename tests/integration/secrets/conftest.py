"""A stack for the secrets tests: the API stack of tests/integration/api (real Postgres, the
Temporal dev server, worker, projector, the app in-process), with the API and the worker
sharing a master key of the test's own, as a deployment's share BYTEDASH_MASTER_KEY."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.bundle import build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from interfaces.api import create_app
from tests.integration.api.conftest import (  # noqa: F401  (fixtures)
    Stack,
    api_settings,
    module_database_url,
    projector_running,
    serving,
)
from tests.integration.api.support import MASTER_KEY
from worker.main import build_worker

MASTER_KEY_BYTES = base64.b64decode(MASTER_KEY)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    temporal_env: WorkflowEnvironment,
    module_database_url: str,  # noqa: F811
    projector_running: None,  # noqa: F811
) -> AsyncIterator[Stack]:
    task_queue = f"secrets-{uuid.uuid4().hex[:10]}"
    services = build_services(module_database_url)
    client: Client = temporal_env.client
    settings = api_settings(module_database_url, task_queue, master_key=MASTER_KEY)
    app = create_app(settings, temporal_client=client)
    try:
        worker = build_worker(
            client, services, task_queue, master_key=MASTER_KEY_BYTES, outbound=ALLOW_LOOPBACK
        )
        async with worker, serving(app) as http:
            yield Stack(app, http, module_database_url, task_queue, services)
    finally:
        services.close()
