from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from application.bundle import Services, build_services
from tests.integration.audit.support import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(database_url: str, clock: Clock) -> Iterator[Services]:
    built = build_services(database_url, clock=clock)
    yield built
    built.close()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A reading connection (autocommit, so each query sees the latest commits)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection
