from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict

from migrations import apply_migrations
from tests.support.postgres import PostgresServer


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
