"""Commands beside a running ``bytedash up`` use its servers (the address book in its data
folder), say which, never another stack's, and fail fast, naming the address, when the worker
cannot be reached. And `up` itself is quiet: a short summary, the rest in its log file.

Two stacks run for the whole module: A, all embedded (a first run on an empty folder), and B,
with its own embedded Temporal and a database of the shared test server. One `up` each: they
take a while to start on a small machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
import pytest

from interfaces.embedded import LOG_FILE, AddressBook, free_port
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.slow

# Variables of the machine running the tests that would otherwise decide for the command.
_OURS = ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*_OURS, "BYTEDASH_ENV")}
    env.update(BYTEDASH_DATA_DIR=str(data_dir), LOG_FORMAT="json", **extra)
    return env


def _bytedash(*args: str) -> list[str]:
    return [sys.executable, "-m", "interfaces.cli", *args]


@dataclass
class Up:
    process: subprocess.Popen[str]
    data_dir: Path
    output: IO[str]
    book: AddressBook

    def printed(self) -> str:
        self.output.flush()
        self.output.seek(0)
        return self.output.read()


def _start_up(folder: Path, **env: str) -> Up:
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = folder / "data"
    port = free_port(19000 + os.getpid() % 500)
    output = (folder / "up.out").open("w+")
    process = subprocess.Popen(
        _bytedash("up"),
        env=_env(data_dir, API_PORT=str(port), **env),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, f"bytedash up exited:\n{_read(output)}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                book = AddressBook.read(data_dir.resolve())
                assert book is not None
                return Up(process, data_dir, output, book)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"bytedash up did not become ready:\n{_read(output)}")


def _read(output: IO[str]) -> str:
    output.flush()
    output.seek(0)
    return output.read()


def _stop_up(up: Up) -> None:
    up.process.send_signal(signal.SIGINT)
    try:
        up.process.wait(90)
    except subprocess.TimeoutExpired:
        up.process.kill()
        up.process.wait()
    up.output.close()


@contextmanager
def _folder(name: str) -> Iterator[Path]:
    """A folder outside pytest's temporary root: run as root, pgserver runs Postgres as its own
    user, who must reach the folder, and every pytest session (another one on the machine
    included) makes that root private again (0700) when it starts."""
    with tempfile.TemporaryDirectory(prefix=f"bytedash-{name}-", ignore_cleanup_errors=True) as d:
        yield Path(d)


@pytest.fixture(scope="module")
def stack_a() -> Iterator[Up]:
    with _folder("stack-a") as folder:
        up = _start_up(folder)
        yield up
        _stop_up(up)


@pytest.fixture(scope="module")
def stack_b(pg_server: PostgresServer) -> Iterator[Up]:
    with pg_server.database() as url, _folder("stack-b") as folder:
        up = _start_up(folder, DATABASE_URL=url)
        yield up
        _stop_up(up)


def _run(data_dir: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run(
        _bytedash(*args), env=_env(data_dir, **env), capture_output=True, text=True, timeout=120
    )
    return done, time.monotonic() - began


def _admin_actions(book: AddressBook) -> list[dict[str, Any]]:
    with psycopg.connect(book.database_url) as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE aggregate_type = 'admin_action' ORDER BY position"
        ).fetchall()
    return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]


def test_up_writes_where_its_servers_are(stack_a: Up, stack_b: Up) -> None:
    a, b = stack_a.book, stack_b.book
    assert (a.up_pid, b.up_pid) == (stack_a.process.pid, stack_b.process.pid)
    assert a.postgres_embedded and a.temporal_embedded
    assert not b.postgres_embedded and b.temporal_embedded
    assert a.temporal_address != b.temporal_address
    assert a.api_url.startswith("http://127.0.0.1:") and a.temporal_ui is not None
    assert a.up_running and b.up_running


def test_a_command_beside_up_uses_its_servers_and_says_which(stack_a: Up) -> None:
    book = stack_a.book
    status, _ = _run(stack_a.data_dir, "projections", "status", "contacts")
    assert status.returncode == 0, status.stderr
    assert "contacts" in status.stdout
    # One line says which servers, and nothing of pgserver's own logging.
    assert status.stderr.splitlines() == [
        f"bytedash: Postgres {book.database_url} "
        f"(bytedash up on {book.data_dir}, pid {book.up_pid})"
    ]

    before = len(_admin_actions(book))
    rebuilt, took = _run(stack_a.data_dir, "projections", "rebuild", "contacts")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt contacts" in rebuilt.stdout
    first = rebuilt.stderr.splitlines()[0]
    assert f"Temporal {book.temporal_address} (bytedash up on {book.data_dir}" in first
    assert "recorded admin action" in rebuilt.stderr
    assert took < 60
    actions = _admin_actions(book)
    assert len(actions) == before + 1
    assert (actions[-1]["action"], actions[-1]["target"]) == ("rebuild", "contacts")


def test_two_stacks_on_one_machine_do_not_cross(stack_a: Up, stack_b: Up) -> None:
    in_a, in_b = len(_admin_actions(stack_a.book)), len(_admin_actions(stack_b.book))
    done, _ = _run(stack_b.data_dir, "projections", "verify", "contacts")
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert f"Temporal {stack_b.book.temporal_address} " in first
    assert stack_a.book.temporal_address not in done.stderr
    assert [a["action"] for a in _admin_actions(stack_b.book)[in_b:]] == ["verify"]
    assert len(_admin_actions(stack_a.book)) == in_a  # A's worker and database saw nothing


def test_an_unreachable_temporal_fails_at_once_naming_the_address(stack_a: Up) -> None:
    nowhere = f"127.0.0.1:{free_port(19900)}"
    done, took = _run(
        stack_a.data_dir, "projections", "rebuild", "contacts", TEMPORAL_ADDRESS=nowhere
    )
    assert done.returncode == 2
    assert took < 15, done.stderr
    assert f"Temporal {nowhere} (TEMPORAL_ADDRESS)" in done.stderr
    assert f"could not reach Temporal at {nowhere}" in done.stderr
    assert "Traceback" not in done.stderr and "TimeoutError" not in done.stderr


def test_a_temporal_without_a_worker_fails_at_once_naming_the_queue(stack_a: Up) -> None:
    before = len(_admin_actions(stack_a.book))
    done, took = _run(
        stack_a.data_dir, "projections", "rebuild", "contacts", TEMPORAL_TASK_QUEUE="nobody-polls"
    )
    assert done.returncode == 2
    assert took < 15, done.stderr
    assert f"no worker polls Temporal at {stack_a.book.temporal_address}" in done.stderr
    assert "task queue 'nobody-polls'" in done.stderr
    assert len(_admin_actions(stack_a.book)) == before


def test_the_folder_of_a_stopped_up_refuses_rather_than_use_a_default(
    stack_a: Up, tmp_path: Path
) -> None:
    """An embedded Temporal's address means nothing once its `up` is gone: the command says
    so rather than fall back to 127.0.0.1:7233, where another stack may listen."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    folder = tmp_path / "stopped"
    folder.mkdir()
    was = f"127.0.0.1:{free_port(19950)}"
    stale = AddressBook(
        **{
            **stack_a.book.__dict__,
            "data_dir": folder.resolve(),
            "up_pid": gone.pid,
            "temporal_address": was,
        }
    )
    stale.write()
    done, took = _run(folder, "projections", "rebuild", "contacts")
    assert done.returncode == 2
    assert took < 15
    assert f"bytedash up is not running on {folder.resolve()}" in done.stderr
    assert f"the embedded Temporal it ran ({was}) stopped with it" in done.stderr
    assert "127.0.0.1:7233" not in done.stderr
    assert not (folder / "postgres").exists()  # refused before starting anything


def test_a_first_up_prints_a_short_summary_and_logs_the_rest(stack_a: Up) -> None:
    """Stack A is a first run on an empty folder: initdb, a new Temporal file, every
    migration. What a person sees is what runs where and how to stop it."""
    book = stack_a.book
    printed = stack_a.printed().splitlines()
    ready = next(n for n, line in enumerate(printed) if line.startswith("Ready."))
    summary = printed[: ready + 1]
    log_file = book.data_dir / LOG_FILE
    assert len(summary) == 7, "\n".join(printed)
    assert summary[0] == (
        f"bytedash up: data in {book.data_dir}, logs in {log_file} and "
        f"{book.data_dir / 'temporal.log'}"
    )
    assert summary[1] == f"Postgres   {book.database_url} (embedded)"
    assert summary[2] == (
        f"Temporal   {book.temporal_address} (embedded dev server, UI {book.temporal_ui})"
    )
    assert summary[3].startswith("Migrations ") and summary[3].endswith(" applied")
    assert int(summary[3].split()[1]) >= 10
    assert summary[4].startswith("Processes  worker ") and "projector " in summary[4]
    assert summary[5] == (
        f"API        {book.api_url}/api/v1 (docs {book.api_url}/docs, "
        f"console {book.api_url}/console)"
    )
    assert "Ctrl-C stops everything" in summary[6]
    # Nothing after it while the stack runs quietly; the chatter is in the log file.
    assert printed[ready + 1 :] == []
    logged = log_file.read_text()
    assert "initdb" in logged  # pgserver's lines, initdb's output in them
    assert "Application startup complete" in logged  # uvicorn's, from the API process
    assert '"worker.started"' in logged  # the children's own lines


def test_a_command_that_starts_the_embedded_postgres_prints_none_of_its_lines() -> None:
    """No `up` on the folder: `migrate` starts the folder's embedded Postgres for itself (an
    initdb on this empty folder) and says so in its one line; pgserver's lines go to the log."""
    with _folder("migrate") as folder:
        _migrate_prints_one_line((folder / "data").resolve())


def _migrate_prints_one_line(data_dir: Path) -> None:
    done, _ = _run(data_dir, "migrate")
    assert done.returncode == 0, done.stderr
    (said,) = done.stderr.splitlines()
    assert said.startswith("bytedash: Postgres user=postgres dbname=bytedash host=")
    assert said.endswith(f"(embedded in {data_dir})")
    assert done.stdout.startswith("applied 0001_")
    assert "initdb" in (data_dir / LOG_FILE).read_text()
