from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from psycopg.conninfo import conninfo_to_dict
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from migrations import apply_migrations
from tests.support.postgres import PostgresServer
from tests.support.temporal import dev_server_path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def migrated_template(pg_server: PostgresServer) -> Iterator[str]:
    """A database with every migration applied, cloned for each test (CREATE ... TEMPLATE)."""
    name = pg_server.create_database()
    apply_migrations(pg_server.url(name))
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def database_url(pg_server: PostgresServer, migrated_template: str) -> Iterator[str]:
    """A fresh, migrated database of this test's own."""
    with pg_server.database(template=migrated_template) as url:
        yield url


@pytest.fixture
def empty_database_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh database with no migrations applied."""
    with pg_server.database() as url:
        yield url


def dbname_of(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server for the whole session; tests use a fresh task queue each."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"
