"""The stack the API tests run against: real Postgres, the real Temporal dev server, the real
worker and projector, and the app served in-process through httpx's ASGI transport.

One stack per test module (its own database, task queue, worker and projector thread); tests
stay apart by using a fresh org each, as every read and command is scoped to the caller's org.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from application.bundle import Services, build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from interfaces.api import create_app
from interfaces.settings import Settings
from projections import Projector, default_projections
from projections.chain import ChainSealer
from tests.integration.api.support import SECRET, WEBHOOK_KEY, Caller, new_org
from tests.support.postgres import PostgresServer
from worker.main import build_worker

BASE_URL = "http://testserver"


def api_settings(database_url: str, task_queue: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "temporal_address": "127.0.0.1:7233",
        "temporal_task_queue": task_queue,
        "auth_jwt_secret": SECRET,
        "webhook_secret_key": WEBHOOK_KEY,
        "auth_jwks_url": None,
        "auth_issuer": None,
        "auth_audience": None,
        "env": "development",
        "log_format": "console",
        **overrides,
    }
    return Settings.model_validate(values)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process HTTP client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    database_url: str
    task_queue: str
    services: Services

    def caller(self, role: str = "member", *, org: str | None = None, user: str = "u1") -> Caller:
        return Caller(self.client, org or new_org(), role, user)


@pytest.fixture(scope="module")
def module_database_url(pg_server: PostgresServer, migrated_template: str) -> Iterator[str]:
    with pg_server.database(template=migrated_template) as url:
        yield url


@pytest.fixture(scope="module")
def projector_running(module_database_url: str) -> Iterator[None]:
    stop = threading.Event()

    def run() -> None:
        with Projector(module_database_url, default_projections(), poll_interval=0.2) as p:
            p.run_forever(stop)

    # The projector process runs the sealer beside the projections (interfaces/cli.py).
    sealer = ChainSealer(module_database_url, poll_interval=0.2)
    threads = [
        threading.Thread(target=run, name="api-tests-projector", daemon=True),
        threading.Thread(target=sealer.run_forever, args=(stop,), name="api-tests-sealer"),
    ]
    for thread in threads:
        thread.start()
    yield
    stop.set()
    for thread in threads:
        thread.join(10)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    temporal_env: WorkflowEnvironment, module_database_url: str, projector_running: None
) -> AsyncIterator[Stack]:
    task_queue = f"api-{uuid.uuid4().hex[:10]}"
    services = build_services(module_database_url)
    client: Client = temporal_env.client
    app = create_app(api_settings(module_database_url, task_queue), temporal_client=client)
    try:
        async with (
            build_worker(client, services, task_queue, outbound=ALLOW_LOOPBACK),
            serving(app) as http,
        ):
            yield Stack(app, http, module_database_url, task_queue, services)
    finally:
        services.close()
