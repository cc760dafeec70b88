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
from application.delivery.llm import LlmEndpoint
from application.delivery.outbound import OutboundPolicy
from application.privacy.payload_keys import PayloadKeys
from application.secrets import SecretStore
from application.services.secrets import SecretService
from worker.activities.commands import CommandActivities
from worker.activities.erasure import ContactErasureActivities
from worker.activities.execution import ExecutionActivities
from worker.activities.schedules import ScheduleActivities
from worker.activities.secrets import SecretActivities
from worker.converter import payload_keys, sealed_data_converter
from worker.handlers import CommandHandlers
from worker.interceptors import ActivityContextInterceptor
from worker.search_attributes import check_search_attributes
from worker.secret_handlers import SecretCommandHandler
from worker.secret_transit import DEV_MASTER_KEY
from worker.workflows.commands import COMMAND_WORKFLOWS
from worker.workflows.erasure import ContactErasureWorkflow
from worker.workflows.execution import ExecutionWorkflow
from worker.workflows.schedules import ScheduledExecutionWorkflow
from worker.workflows.secrets import SecretCommandWorkflow

log = structlog.get_logger(__name__)

WORKFLOWS = [
    *COMMAND_WORKFLOWS,
    ExecutionWorkflow,
    ScheduledExecutionWorkflow,
    SecretCommandWorkflow,
    ContactErasureWorkflow,
]


def build_worker(
    client: Client,
    services: Services,
    task_queue: str,
    *,
    activity_threads: int = 16,
    smtp_url: str | None = None,
    llm: LlmEndpoint | None = None,
    max_cached_workflows: int = 1000,
    sticky_queue_timeout: timedelta = timedelta(seconds=10),
    interceptors: Sequence[Interceptor] = (),
    master_key: bytes | None = None,
    outbound: OutboundPolicy | None = None,
    previous_master_key: bytes | None = None,
) -> Worker:
    """The worker with every workflow and activity. `smtp_url` (SMTP_URL) is where
    `send_email` steps deliver; without it emails are recorded as not delivered. `llm`
    (LLM_BASE_URL, LLM_API_KEY) is where `llm` steps ask for chat completions; without it they
    fail.
    `max_cached_workflows=0` makes every workflow task replay its history from the start
    (tests use it to prove that executions survive a worker that lost its memory).
    `sticky_queue_timeout` is how long a workflow task waits for the worker that has the
    workflow cached before any worker may take it: the delay after that worker dies.
    `interceptors` wrap every activity and workflow inside the product's own (tracing, say,
    or a test's injected fault), so their log lines carry the activity's context and what they
    raise is classified like the activity's own errors.
    `master_key` (BYTEDASH_MASTER_KEY) opens the secret values the API seals and wraps each
    org's data key; None is the development key (interfaces/settings.py refuses that in
    production). `outbound` (OUTBOUND_ALLOW) is where `http_request` and `llm` steps may
    call: None allows public addresses only; tests calling local servers pass
    `application.delivery.outbound.ALLOW_LOOPBACK`."""
    handlers = CommandHandlers(services)
    commands = CommandActivities(handlers)
    mailer = None if smtp_url is None else SmtpMailer(SmtpSettings.from_url(smtp_url))
    key = DEV_MASTER_KEY if master_key is None else master_key
    # During a master key rotation, org data keys not re-wrapped yet open with the previous key.
    secret_store = SecretStore(services.store.datastore, key, previous_master_key)
    engine = ExecutionActivities(
        services, mailer=mailer, llm_endpoint=llm, secrets=secret_store, outbound=outbound
    )
    schedules = ScheduleActivities(handlers.find_definition, client, task_queue)
    erasure = ContactErasureActivities(services.store.datastore, client)
    secrets = SecretActivities(
        SecretCommandHandler(SecretService(services.store, secret_store), key)
    )
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
            secrets.secret_command,
            erasure.running_executions,
            erasure.still_running,
            erasure.destroy_payload_keys,
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


async def connect(address: str, namespace: str, keys: PayloadKeys | None = None) -> Client:
    """A client whose payloads are sealed with `keys` (application/privacy/codec.py); without
    keys, in clear (tools that read histories recorded in clear)."""
    converter = pydantic_data_converter if keys is None else sealed_data_converter(keys)
    return await Client.connect(address, namespace=namespace, data_converter=converter)


async def run_worker(
    *,
    database_url: str,
    temporal_address: str,
    namespace: str,
    task_queue: str,
    stop: asyncio.Event | None = None,
    smtp_url: str | None = None,
    llm_base_url: str | None = None,
    llm_api_key: str | None = None,
    master_key: bytes | None = None,
    previous_master_key: bytes | None = None,
    outbound_allow: str = "",
) -> None:
    """Run until ``stop`` is set (or forever); in-flight activities finish before returning."""
    services = build_services(
        database_url,
        pool_size=8,
        master_key=master_key,
        previous_master_key=previous_master_key,
    )
    keys = payload_keys(database_url, master_key, previous_master_key)
    try:
        client = await connect(temporal_address, namespace, keys)
        await keys.warm()  # the shared key in hand before any outage of Postgres
        # Logs the command to run when the namespace lacks them; the worker runs anyway.
        await check_search_attributes(client)
        llm = None if llm_base_url is None else LlmEndpoint(llm_base_url, llm_api_key)
        outbound = OutboundPolicy.parse(outbound_allow)
        worker = build_worker(
            client,
            services,
            task_queue,
            smtp_url=smtp_url,
            llm=llm,
            master_key=master_key,
            outbound=outbound,
            previous_master_key=previous_master_key,
        )
        log.info(
            "worker.started",
            task_queue=task_queue,
            temporal=temporal_address,
            smtp="configured" if smtp_url else "not configured: emails are recorded only",
            llm="configured" if llm else "not configured: llm steps fail",
            outbound_allow=outbound_allow or "public addresses only",
        )
        if master_key is None:
            log.warning(
                "secrets.development_master_key",
                detail="BYTEDASH_MASTER_KEY is not set: secrets are stored under the public "
                "development key (refused in production)",
            )
        async with worker:
            await (stop.wait() if stop is not None else asyncio.Event().wait())
        log.info("worker.stopped")
    finally:
        await keys.close()
        services.close()
