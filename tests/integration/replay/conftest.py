from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.projections.eventlog import EventLog


@pytest.fixture
def log() -> EventLog:
    return EventLog()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A reading connection (autocommit, so each query sees the latest commits)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection
