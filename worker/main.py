"""The worker process: builds the services and runs the Temporal worker until told to stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Interceptor, Worker

from application.bundle import Services, build_services
from application.delivery.email import SmtpMailer, SmtpSettings
from worker.activities.commands import CommandActivities
from worker.activities.execution import ExecutionActivities
from worker.activities.schedules import ScheduleActivities
from worker.handlers import CommandHandlers
from worker.interceptors import ActivityContextInterceptor
from worker.workflows.commands import COMMAND_WORKFLOWS
from worker.workflows.execution import ExecutionWorkflow
from worker.workflows.schedules import ScheduledExecutionWorkflow

log = structlog.get_logger(__name__)

WORKFLOWS = [*COMMAND_WORKFLOWS, ExecutionWorkflow, ScheduledExecutionWorkflow]


def build_worker(
    client: Client,
    services: Services,
    task_queue: str,
    *,
    activity_threads: int = 16,
    smtp_url: str | None = None,
    max_cached_workflows: int = 1000,
    sticky_queue_timeout: timedelta = timedelta(seconds=10),
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """The worker with every workflow and activity. `smtp_url` (SMTP_URL) is where
    `send_email` steps deliver; without it emails are recorded as not delivered.
    `max_cached_workflows=0` makes every workflow task replay its history from the start
    (tests use it to prove that executions survive a worker that lost its memory).
    `sticky_queue_timeout` is how long a workflow task waits for the worker that has the
    workflow cached before any worker may take it: the delay after that worker dies.
    `interceptors` wrap every activity and workflow inside the product's own (tracing, say,
    or a test's injected fault), so their log lines carry the activity's context and what they
    raise is classified like the activity's own errors."""
    handlers = CommandHandlers(services)
    commands = CommandActivities(handlers)
    mailer = None if smtp_url is None else SmtpMailer(SmtpSettings.from_url(smtp_url))
    engine = ExecutionActivities(services, mailer=mailer)
    schedules = ScheduleActivities(handlers.find_definition, client, task_queue)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            *commands.all(),
            *engine.all(),
            schedules.sync_definition_schedule,
            schedules.start_scheduled_execution,
            schedules.scheduled_execution_input,
        ],
        # Binds every activity's log context and reports its refusals as non-retryable failures.
        interceptors=[ActivityContextInterceptor(), *interceptors],
        activity_executor=ThreadPoolExecutor(
            max_workers=activity_threads, thread_name_prefix="activity"
        ),
        max_concurrent_activities=activity_threads,
        max_concurrent_local_activities=activity_threads,
        max_cached_workflows=max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=sticky_queue_timeout,
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
    smtp_url: str | None = None,
) -> None:
    """Run until ``stop`` is set (or forever); in-flight activities finish before returning."""
    services = build_services(database_url, pool_size=8)
    try:
        client = await connect(temporal_address, namespace)
        worker = build_worker(client, services, task_queue, smtp_url=smtp_url)
        log.info(
            "worker.started",
            task_queue=task_queue,
            temporal=temporal_address,
            smtp="configured" if smtp_url else "not configured: emails are recorded only",
        )
        async with worker:
            await (stop.wait() if stop is not None else asyncio.Event().wait())
        log.info("worker.stopped")
    finally:
        services.close()
