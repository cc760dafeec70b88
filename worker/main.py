"""The worker process: builds the services and runs the Temporal worker until told to stop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from application.bundle import Services, build_services
from worker.activities.commands import CommandActivities
from worker.workflows.commands import COMMAND_WORKFLOWS

log = structlog.get_logger(__name__)


def build_worker(
    client: Client, services: Services, task_queue: str, *, activity_threads: int = 16
) -> Worker:
    commands = CommandActivities(services)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=COMMAND_WORKFLOWS,
        activities=[commands.contact_command, commands.task_command, commands.definition_command],
        activity_executor=ThreadPoolExecutor(
            max_workers=activity_threads, thread_name_prefix="activity"
        ),
        max_concurrent_activities=activity_threads,
        # On shutdown, let running activities finish their transaction rather than abandon it.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


async def run_worker(
    *,
    database_url: str,
    temporal_address: str,
    namespace: str,
    task_queue: str,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or forever); in-flight activities finish before returning."""
    services = build_services(database_url, pool_size=8)
    try:
        client = await connect(temporal_address, namespace)
        worker = build_worker(client, services, task_queue)
        log.info("worker.started", task_queue=task_queue, temporal=temporal_address)
        async with worker:
            await (stop.wait() if stop is not None else asyncio.Event().wait())
        log.info("worker.stopped")
    finally:
        services.close()
