"""``bytedash up``: the whole stack for one machine, under one foreground supervisor.

Order matters on the way up (Postgres, Temporal, migrations, then the worker, projector and API
that use them) and on the way down (stop taking requests, let in-flight activities and the
current projector batch finish, then stop Temporal and Postgres), so one process supervises it
all rather than a shell script or a process manager that knows nothing of that order. The API,
the worker(s) and the projector are separate processes (``interfaces.supervisor``) so that they
use more than one core between them.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
import urllib.request
from pathlib import Path
from typing import IO

from interfaces.embedded import (
    LOG_FILE,
    AddressBook,
    DataDirLock,
    EmbeddedPostgres,
    EmbeddedStartError,
    EmbeddedTemporal,
    Guardian,
    port_is_free,
    process_start,
    redacted,
)
from interfaces.settings import Settings
from interfaces.supervisor import ChildSpec, StackError, StopSignals, Supervisor
from migrations import apply_migrations

# How long each stage may take to stop before it is killed with its process group. Together
# with Temporal's and Postgres' own stop they bound how long one Ctrl-C can take (about 45 s
# at worst, 2-5 s usually); a second Ctrl-C kills whatever is still stopping at once.
# The worker's graceful_shutdown_timeout is 10 s: its in-flight activities get that, plus the
# time to close its pool. A worker whose shutdown hangs (a workflow task holding a local
# activity that keeps retrying does) is killed: Temporal retries what it was doing elsewhere.
WORKER_STOP_TIMEOUT = 15.0
# The projector's current batch commits or rolls back with its position: killed, it loses
# nothing (it resumes from the committed position), so it needs no long grace either.
PROJECTOR_STOP_TIMEOUT = 10.0
# Above the API's own graceful-shutdown timeout (cli.API_GRACEFUL_SHUTDOWN) and its pool's close.
API_STOP_TIMEOUT = 10.0
TEMPORAL_STOP_TIMEOUT = 10.0


def default_workers() -> int:
    """One worker process per two cores. On two cores a second worker process gave no
    consistent gain (docs/operations.md): one worker process uses a fraction of a core, and
    Temporal, Postgres, the API and the projector need the rest."""
    return max(1, (os.cpu_count() or 1) // 2)


def _say(text: str) -> None:
    print(text, flush=True)


def _bytedash(*args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "interfaces.cli", *args)


def children(
    workers: int, api_workers: int, *, split_projector: bool = False, cores: int | None = None
) -> list[ChildSpec]:
    """In start order: the worker(s), the projector(s), then the API that sends them work.

    `split_projector`: the read models spread over one projector process per core (`cores`,
    default this machine's; one per read model where there are as many cores), and one process
    for the other followers (admin requests, record triggers, the chain's sealer). A catch-up
    then uses every core (docs/benchmarks.md), for about 60 MiB more per process."""
    names = ["worker"] if workers == 1 else [f"worker-{n}" for n in range(1, workers + 1)]
    api = ("api",) if api_workers == 1 else ("api", "--workers", str(api_workers))
    projectors = [ChildSpec("projector", _bytedash("projector"), 2, PROJECTOR_STOP_TIMEOUT)]
    if split_projector:
        # Imported here: the supervisor needs none of this otherwise.
        from interfaces.triggers import NAME as TRIGGERS
        from projections import default_projections, spread
        from projections.chain import SEALER

        followers = ",".join((TRIGGERS, "admin_requests", SEALER))
        groups = spread([p.name for p in default_projections()], cores or os.cpu_count() or 1)
        projectors = [
            *(
                ChildSpec(
                    f"projector-{'+'.join(group)}",
                    _bytedash("projector", "--only", ",".join(group)),
                    2,
                    PROJECTOR_STOP_TIMEOUT,
                )
                for group in groups
            ),
            ChildSpec(
                "projector", _bytedash("projector", "--only", followers), 2, PROJECTOR_STOP_TIMEOUT
            ),
        ]
    return [
        *(ChildSpec(name, _bytedash("worker"), 1, WORKER_STOP_TIMEOUT) for name in names),
        *projectors,
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


def run_up(
    settings: Settings,
    *,
    workers: int = 1,
    api_workers: int = 1,
    split_projector: bool = False,
    verbose: bool = False,
) -> int:
    """Run the stack until SIGINT or SIGTERM (either one: a terminal's Ctrl-C, a service
    manager's stop), then stop all of it; a second signal stops it at once.

    The signals are caught for the whole run, start-up included: a SIGTERM that arrived while
    Temporal was starting used to end this process on the spot, leaving the embedded servers
    running with nobody to stop them.

    Quiet unless `verbose`: a few lines say what runs where and how to stop it; pgserver's and
    initdb's lines and the children's output (uvicorn's start-up lines among them) go to the
    data folder's log file, the Temporal dev server's to its own (as always)."""
    data_dir = Path(settings.data_dir).resolve()
    host, port = settings.api_host, settings.api_port
    with StopSignals() as signals, DataDirLock(data_dir):
        if not port_is_free(port, host):
            raise StackError(
                f"port {port} on {host} is in use; stop what listens there or set API_PORT"
            )
        postgres = (
            EmbeddedPostgres(data_dir, quiet=not verbose) if not settings.database_url else None
        )
        temporal = EmbeddedTemporal(data_dir) if not settings.temporal_address else None
        # Servers a killed `up` left behind on this folder (its guardian killed with it, or
        # another system): ours now, as the lock says, and stopped before starting anew.
        if temporal is not None:
            temporal.stop_orphan()
        if postgres is not None:
            postgres.stop_stale()
        guardian = Guardian(data_dir) if postgres is not None or temporal is not None else None
        if guardian is not None:
            guardian.start()
        log_file = data_dir / LOG_FILE
        logs = f"{log_file}" + (f" and {temporal.log_file}" if temporal is not None else "")
        _say(f"bytedash up: data in {data_dir}, logs in {logs}")
        supervised = False
        try:
            database_url = settings.database_url or ""
            if postgres is not None:
                database_url = postgres.start()
                _say(f"Postgres   {redacted(database_url)} (embedded)")
            elif database_url:
                _say(f"Postgres   {redacted(database_url)} (DATABASE_URL)")
            temporal_address = settings.temporal_address or ""
            if temporal is not None and not signals.stop.is_set():
                try:
                    temporal_address = temporal.start(stop=signals.stop, die_with_parent=True)
                except EmbeddedStartError:
                    if not signals.stop.is_set():
                        raise
                else:
                    _say(
                        f"Temporal   {temporal_address} (embedded dev server, UI {temporal.ui_url})"
                    )
            elif temporal_address:
                _say(f"Temporal   {temporal_address} (TEMPORAL_ADDRESS)")
            if not signals.stop.is_set():
                applied = apply_migrations(database_url)
                _say(f"Migrations {len(applied)} applied")
            if not signals.stop.is_set():
                AddressBook(
                    data_dir=data_dir,
                    up_pid=os.getpid(),
                    up_started=process_start(os.getpid()) or "",
                    database_url=database_url,
                    postgres_embedded=postgres is not None,
                    temporal_address=temporal_address,
                    temporal_embedded=temporal is not None,
                    temporal_namespace=settings.temporal_namespace,
                    temporal_task_queue=settings.temporal_task_queue,
                    temporal_ui=temporal.ui_url if temporal is not None else None,
                    api_url=f"http://{_loopback(host)}:{port}",
                ).write()
                supervised = True
                with contextlib.ExitStack() as closing:
                    output = None if verbose else closing.enter_context(log_file.open("ab"))
                    _supervise(
                        signals,
                        children(workers, api_workers, split_projector=split_projector),
                        env={
                            **os.environ,
                            "DATABASE_URL": database_url,
                            "TEMPORAL_ADDRESS": temporal_address,
                        },
                        base=f"http://{host}:{port}",
                        local=f"http://{_loopback(host)}:{port}",
                        output=output,
                        log_hint="see its log above" if verbose else f"see its log in {log_file}",
                    )
        finally:
            if signals.stop.is_set() and not signals.hurry.is_set() and not supervised:
                # A stop during start-up, before any child ran (else the supervisor said it).
                _say("Stopping   Temporal and Postgres (Ctrl-C again to stop at once)")
            if temporal is not None:
                temporal.stop(TEMPORAL_STOP_TIMEOUT, hurry=signals.hurry)
            if postgres is not None:
                postgres.stop(hurry=signals.hurry)
            if guardian is not None:
                guardian.release()
    _say("Stopped.")
    return 0


def _supervise(
    signals: StopSignals,
    specs: list[ChildSpec],
    *,
    env: dict[str, str],
    base: str,
    local: str,
    output: IO[bytes] | None,
    log_hint: str,
) -> None:
    supervisor: Supervisor

    def announce() -> None:
        pids = ", ".join(f"{name} {pid}" for name, pid in supervisor.pids().items())
        _say(f"Processes  {pids}")
        _say(f"API        {base}/api/v1 (docs {base}/docs, console {base}/console)")
        _say("Ready. Ctrl-C stops everything; bytedash commands run on this folder use this stack.")

    def stopping() -> None:
        if not signals.hurry.is_set():
            _say(
                f"Stopping   the API, worker(s) and projector, then Temporal and Postgres "
                f"(at most {_stop_bound():.0f} s; Ctrl-C again to stop at once)"
            )

    supervisor = Supervisor(
        specs,
        env,
        signals,
        ready=lambda: _answers_ready(local),
        announce=announce,
        stopping=stopping,
        output=output,
        log_hint=log_hint,
    )
    supervisor.run()


def _stop_bound() -> float:
    """The longest one Ctrl-C can take, besides Postgres' own checkpoint."""
    return API_STOP_TIMEOUT + WORKER_STOP_TIMEOUT + PROJECTOR_STOP_TIMEOUT + TEMPORAL_STOP_TIMEOUT
