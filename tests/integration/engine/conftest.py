"""One database, one worker, one SMTP server and one HTTP endpoint per test module.

Tests in a module share them (each uses its own execution, so they never read each other's
events): starting a worker per test would cost more than the tests themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services, build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from tests.integration.engine.servers import Endpoint, Mailbox, http_endpoint, smtp_server
from tests.support.postgres import PostgresServer
from worker.main import build_worker


@pytest.fixture(scope="module")
def engine_db(pg_server: PostgresServer, migrated_template: str) -> Iterator[str]:
    with pg_server.database(template=migrated_template) as url:
        yield url


@pytest.fixture(scope="module")
def engine_services(engine_db: str) -> Iterator[Services]:
    services = build_services(engine_db, pool_size=8)
    yield services
    services.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[str, Mailbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def mailbox(smtp: tuple[str, Mailbox]) -> Mailbox:
    return smtp[1]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with http_endpoint() as server:
        yield server


@pytest.fixture(scope="module")
def engine_queue() -> str:
    return f"engine-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engine_worker(
    temporal_env: WorkflowEnvironment,
    engine_services: Services,
    engine_queue: str,
    smtp: tuple[str, Mailbox],
) -> AsyncIterator[Worker]:
    worker = build_worker(
        temporal_env.client,
        engine_services,
        engine_queue,
        smtp_url=smtp[0],
        outbound=ALLOW_LOOPBACK,
    )
    async with worker:
        yield worker
