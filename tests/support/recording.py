"""What the history recorders (``python -m tests.integration.*.record_histories``) run on: a
scratch database, a real Temporal dev server, the real services and a fresh task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from application.bundle import Services, build_services
from migrations import apply_migrations
from tests.support.postgres import PostgresServer
from tests.support.temporal import dev_server_path
from worker.contracts import SEARCH_ATTRIBUTES


@dataclass(frozen=True)
class RecordingStack:
    client: Client
    services: Services
    queue: str


@asynccontextmanager
async def recording_stack() -> AsyncIterator[RecordingStack]:
    pg = PostgresServer()
    name = pg.create_database()
    url = pg.url(name)
    apply_migrations(url)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        search_attributes=SEARCH_ATTRIBUTES,
    )
    services = build_services(url)
    try:
        yield RecordingStack(env.client, services, f"record-{uuid.uuid4().hex[:8]}")
    finally:
        services.close()
        await env.shutdown()
        pg.drop_database(name)
        pg.close()
