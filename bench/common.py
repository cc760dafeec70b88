"""Shared bench plumbing: a scratch database, timing, and figure printing."""

from __future__ import annotations

import os
import platform
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrations import apply_migrations

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _admin_url() -> str:
    params: dict[str, Any] = conninfo_to_dict(os.environ.get("DATABASE_URL", LOCAL_URL))
    params["dbname"] = "postgres"
    return make_conninfo(**params)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A freshly migrated database, dropped afterwards, on the DATABASE_URL (or local) server."""
    admin = _admin_url()
    name = f"bytedash_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    params: dict[str, Any] = conninfo_to_dict(admin)
    params["dbname"] = name
    url = make_conninfo(**params)
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> str:
    with psycopg.connect(_admin_url()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    server = row[0] if row else "?"
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {server}"
    )


def line(label: str, value: str) -> None:
    print(f"  {label:<52} {value}", flush=True)
