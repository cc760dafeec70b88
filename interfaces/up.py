"""``bytedash up``: the whole stack in one foreground process for one machine.

Order matters on the way up (Postgres, Temporal, migrations, then the worker, projector and API
that use them) and on the way down (stop taking requests, let in-flight activities and the
current projector batch finish, then stop Temporal and Postgres), so one process supervises it
all rather than a shell script or a process manager that knows nothing of that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import structlog
import uvicorn

from interfaces.admin_requests import AdminRequestFollower
from interfaces.embedded import DataDirLock, EmbeddedPostgres, EmbeddedTemporal
from interfaces.settings import Settings
from interfaces.triggers import TemporalStarter, TriggerFollower
from migrations import apply_migrations
from projections import Projector, default_projections
from worker.main import run_worker

log = structlog.get_logger(__name__)


def _say(text: str) -> None:
    print(text, flush=True)


async def _serve(settings: Settings, database_url: str, temporal_address: str) -> None:
    from interfaces.api.app import create_app

    stop_worker = asyncio.Event()
    stop_projector = threading.Event()

    def project() -> None:
        starter = TemporalStarter(
            temporal_address, settings.temporal_namespace, settings.temporal_task_queue
        )
        try:
            admin = AdminRequestFollower(database_url)
            chosen = [*default_projections(), TriggerFollower(starter), admin]
            with Projector(database_url, chosen) as p:
                p.run_forever(stop_projector)
            admin.close()
        finally:
            starter.close()

    projector_thread = threading.Thread(target=project, name="projector", daemon=True)
    projector_thread.start()
    worker_task = asyncio.create_task(
        run_worker(
            database_url=database_url,
            temporal_address=temporal_address,
            namespace=settings.temporal_namespace,
            task_queue=settings.temporal_task_queue,
            smtp_url=settings.smtp_url,
            stop=stop_worker,
        ),
        name="worker",
    )
    app_settings = settings.model_copy(
        update={"database_url": database_url, "temporal_address": temporal_address}
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(app_settings),
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,
            lifespan="on",
        )
    )
    base = f"http://{settings.api_host}:{settings.api_port}"
    try:
        serving = asyncio.create_task(server.serve(), name="api")
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            _say(f"API        {base}/api/v1")
            _say(f"API docs   {base}/docs")
            _say("Ready. Ctrl-C stops everything.")
        done, _ = await asyncio.wait({serving, worker_task}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a worker or server that died on its own: surface why
    finally:
        server.should_exit = True
        stop_worker.set()
        stop_projector.set()
        with contextlib.suppress(Exception):
            await worker_task
        await asyncio.to_thread(projector_thread.join, 30)


def run_up(settings: Settings) -> int:
    data_dir = Path(settings.data_dir).resolve()
    with DataDirLock(data_dir):
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
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_serve(settings, database_url, temporal_address))
        finally:
            if temporal is not None:
                temporal.stop()
            if postgres is not None:
                postgres.stop()
    _say("Stopped.")
    return 0
