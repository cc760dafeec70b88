from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from psycopg.conninfo import conninfo_to_dict
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from migrations import apply_migrations
from projections import personal
from tests.support import parallel
from tests.support.postgres import PostgresServer
from tests.support.temporal import dev_server_path
from worker.contracts import SEARCH_ATTRIBUTES


def pytest_configure(config: pytest.Config) -> None:
    """The fuzz run's seed (tests/integration/api/test_fuzz.py), drawn once for the run here so
    that the header shows it: an xdist worker's own output is not shown."""
    if not os.environ.get("FUZZ_SEED"):
        os.environ["FUZZ_SEED"] = str(random.SystemRandom().randrange(2**32))
    parallel.hold_embedded_temporal_ports(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    parallel.release_embedded_temporal_ports(config)


def pytest_report_header(config: pytest.Config) -> str:
    seed = os.environ["FUZZ_SEED"]
    return f"fuzz seed: {seed} (repeat with FUZZ_SEED={seed})"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: workers for the whole suite, none for named paths (support/parallel.py)."""
    return parallel.auto_workers(config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, the browser tests as one unit, the longest units first."""
    if config.getvalue("dist") != "loadfile":
        return None
    return parallel.make_scheduler(config, log)


@pytest.fixture(scope="module", autouse=True)
def _master_keys_of_the_module() -> Iterator[None]:
    """The master keys the read side opens contact keys with are process-wide (an app built with
    production settings holds only its own key); each test module starts from the development
    key again, whichever module ran before it in this worker."""
    yield
    personal.hold_master_keys(production=False)


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
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"
