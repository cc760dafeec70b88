"""The two servers both sides of a comparison share: one Postgres server (each side gets a
database of its own on it) and one Temporal dev server started here.

Both sides must meet the same servers, so the bench owns them rather than letting
``bytedash up`` start its embedded ones: otherwise the comparison would also be one between two
Temporal servers and two Postgres configurations.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from interfaces.embedded import EmbeddedTemporal

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
# Connections the bench itself opens carry this name, so the CPU meter can leave them out.
BENCH_APPLICATION = "bench"


def postgres_url(dbname: str = "postgres") -> str:
    """The server of DATABASE_URL, else the machine's own at 127.0.0.1:5432, on `dbname`."""
    params: dict[str, Any] = conninfo_to_dict(os.environ.get("DATABASE_URL") or LOCAL_POSTGRES)
    params["dbname"] = dbname
    return make_conninfo(**params)


def bench_url(url: str) -> str:
    """`url` tagged as the bench's own connection."""
    params: dict[str, Any] = conninfo_to_dict(url)
    params["application_name"] = BENCH_APPLICATION
    return make_conninfo(**params)


@contextlib.contextmanager
def scratch_database(prefix: str, schema: str | None = None) -> Iterator[str]:
    """An empty database (or one holding `schema`) on the shared server, dropped afterwards."""
    admin = postgres_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    url = postgres_url(name)
    try:
        if schema is not None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(schema.encode())
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TemporalServer:
    address: str
    pid: int


@contextlib.contextmanager
def temporal_dev_server() -> Iterator[TemporalServer]:
    """The Temporal dev server ``bytedash up`` embeds (``interfaces.embedded``), in a scratch
    folder: the same command and SQLite settings by construction, so neither side meets a
    faster server than a user would."""
    with tempfile.TemporaryDirectory(prefix="bench-temporal-") as folder:
        server = EmbeddedTemporal(Path(folder), port=free_port(), ui_port=free_port())
        address = server.start()
        try:
            assert server.pid is not None
            yield TemporalServer(address=address, pid=server.pid)
        finally:
            server.stop()
