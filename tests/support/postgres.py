"""Finds a Postgres server for the tests and hands out fresh databases on it.

Order: ``DATABASE_URL`` (its server; databases are created beside the one it names), else the
local server at 127.0.0.1:5432, else an embedded server from the ``pgserver`` package in a
temporary folder. Each test gets its own database cloned from a migrated template, so tests
never see each other's events and runs never see each other's data.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def with_dbname(url: str, dbname: str) -> str:
    params: dict[str, Any] = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


class PostgresServer:
    """A server on which the tests may create and drop databases."""

    def __init__(self) -> None:
        self._embedded: Any = None
        env_url = os.environ.get("DATABASE_URL")
        if env_url:
            self.admin_url = with_dbname(env_url, "postgres")
        elif _reachable(LOCAL_URL):
            self.admin_url = LOCAL_URL
        else:
            from pgserver import get_server  # type: ignore[attr-defined]

            data_dir = tempfile.mkdtemp(prefix="bytedash-pg-")
            self._embedded = get_server(data_dir, cleanup_mode="delete")
            self.admin_url = self._embedded.get_uri()

    def create_database(self, template: str | None = None) -> str:
        name = f"bytedash_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if template:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'.encode())
            else:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    def url(self, dbname: str) -> str:
        return with_dbname(self.admin_url, dbname)

    @contextmanager
    def database(self, template: str | None = None) -> Iterator[str]:
        name = self.create_database(template)
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)

    def close(self) -> None:
        if self._embedded is not None:
            self._embedded.cleanup()
