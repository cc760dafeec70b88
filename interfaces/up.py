"""``bytedash up``: the whole stack for one machine, under one foreground supervisor.

Order matters on the way up (Postgres, Temporal, migrations, then the worker, projector and API
that use them) and on the way down (stop taking requests, let in-flight activities and the
current projector batch finish, then stop Temporal and Postgres), so one process supervises it
all rather than a shell script or a process manager that knows nothing of that order. The API,
the worker(s) and the projector are separate processes (``interfaces.supervisor``) so that they
use more than one core between them.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.request
from pathlib import Path

from interfaces.embedded import DataDirLock, EmbeddedPostgres, EmbeddedTemporal, port_is_free
from interfaces.settings import Settings
from interfaces.supervisor import ChildSpec, StackError, StopSignals, Supervisor
from migrations import apply_migrations

# The worker's graceful_shutdown_timeout is 10 s: its in-flight activities get that, plus the
# time to close its pool, before it is killed.
WORKER_STOP_TIMEOUT = 30.0
PROJECTOR_STOP_TIMEOUT = 30.0
# Above the API's own graceful-shutdown timeout (cli.API_GRACEFUL_SHUTDOWN).
API_STOP_TIMEOUT = 20.0


def default_workers() -> int:
    """One worker process per two cores. On two cores a second worker process gave no
    consistent gain (docs/operations.md): one worker process uses a fraction of a core, and
    Temporal, Postgres, the API and the projector need the rest."""
    return max(1, (os.cpu_count() or 1) // 2)


def _say(text: str) -> None:
    print(text, flush=True)


def _bytedash(*args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "interfaces.cli", *args)


def children(workers: int, api_workers: int) -> list[ChildSpec]:
    """In start order: the worker(s), the projector, then the API that sends them work."""
    names = ["worker"] if workers == 1 else [f"worker-{n}" for n in range(1, workers + 1)]
    api = ("api",) if api_workers == 1 else ("api", "--workers", str(api_workers))
    return [
        *(ChildSpec(name, _bytedash("worker"), 1, WORKER_STOP_TIMEOUT) for name in names),
        ChildSpec("projector", _bytedash("projector"), 2, PROJECTOR_STOP_TIMEOUT),
        ChildSpec("api", _bytedash(*api), 0, API_STOP_TIMEOUT),
    ]


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host


def _answers_ready(base: str) -> bool:
    """The API's own readiness (Postgres and Temporal reachable), not merely a listening
    socket: with --api-workers the socket listens before any worker process serves."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with direct.open(f"{base}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def run_up(settings: Settings, *, workers: int = 1, api_workers: int = 1) -> int:
    data_dir = Path(settings.data_dir).resolve()
    host, port = settings.api_host, settings.api_port
    with DataDirLock(data_dir):
        if not port_is_free(port, host):
            raise StackError(
                f"port {port} on {host} is in use; stop what listens there or set API_PORT"
            )
        postgres = EmbeddedPostgres(data_dir) if not settings.database_url else None
        temporal = EmbeddedTemporal(data_dir) if not settings.temporal_address else None
        try:
            database_url = settings.database_url or ""
            if postgres is not None:
                _say(f"Postgres   embedded, data in {postgres.pgdata}")
                database_url = postgres.start()
            temporal_address = settings.temporal_address or ""
            if temporal is not None:
                _say(f"Temporal   embedded dev server, data in {temporal.db_file}")
                temporal_address = temporal.start()
                _say(f"Temporal UI {temporal.ui_url}")
            applied = apply_migrations(database_url)
            _say(f"Migrations {len(applied)} applied")
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "TEMPORAL_ADDRESS": temporal_address,
            }
            base = f"http://{host}:{port}"
            local = f"http://{_loopback(host)}:{port}"
            with StopSignals() as signals:
                supervisor: Supervisor

                def announce() -> None:
                    pids = ", ".join(f"{name} {pid}" for name, pid in supervisor.pids().items())
                    _say(f"Processes  {pids}")
                    _say(f"API        {base}/api/v1")
                    _say(f"API docs   {base}/docs")
                    _say("Ready. Ctrl-C stops everything.")

                supervisor = Supervisor(
                    children(workers, api_workers),
                    env,
                    signals,
                    ready=lambda: _answers_ready(local),
                    announce=announce,
                )
                supervisor.run()
        finally:
            with StopSignals():  # a second Ctrl-C must not cut Postgres' shutdown short
                if temporal is not None:
                    temporal.stop()
                if postgres is not None:
                    postgres.stop()
    _say("Stopped.")
    return 0
