"""An execution whose recording fails for good ends `failed`, with the reason, and says so in
its events (and so in the executions read model), instead of retrying forever.

Issue 10, item 6: a webhook whose payload held a NUL created an execution that retried its
first record every 30 s forever, with nothing in any read model. Data that can never be stored
is now refused at once, and the engine records the execution without that data, failed, with
why; a step's output that cannot be stored fails the execution the same way at its finish.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    Worker,
)

from application.bundle import Services, build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from application.metadata import CommandContext
from tests.conftest import dbname_of
from tests.integration.engine.support import (
    Handle,
    definition,
    event_types,
    events,
    snapshot,
    start,
    step,
    waiting_at,
)
from tests.support.postgres import with_dbname
from worker.contracts import NAMED_SIGNAL, REFUSAL_TYPES, ExecutionResult, NamedSignal
from worker.main import build_worker
from worker.step_calls import BeginExecution
from worker.workflows import engine

CTX = CommandContext(org_id="org_e", command_id="reader")
# Long enough for a worker on a busy machine, far shorter than any retry window: an execution
# that retried as before would never finish.
SETTLES_WITHIN = 30.0


async def _result(handle: Handle) -> ExecutionResult:
    return await asyncio.wait_for(handle.result(), SETTLES_WITHIN)


def _execution(services: Services, execution_id: str) -> Any:
    return services.executions.get_execution(CTX, UUID(execution_id))


async def test_a_payload_that_cannot_be_stored_records_the_execution_failed_with_why(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    body = definition(step("review", "assign_task", title="Review", assign_to="role:hr"))
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"note": "first\x00second"}
    )

    result = await _result(handle)

    assert result.status == "failed"
    assert result.step_id == "start"
    assert result.error is not None
    assert result.error.startswith("The execution could not be recorded: ")
    assert "cannot be stored" in result.error
    execution = _execution(engine_services, execution_id)
    assert execution.status == "failed"
    assert execution.error == result.error
    assert event_types(engine_db, execution_id) == [
        "Created",
        "Started",
        "StepStarted(start)",
        "Failed(start)",
    ]
    # Recorded without the data that could not be stored; no task was assigned.
    (created, *_) = events(engine_db, execution_id)
    assert "first" not in str(created["data"])


async def test_a_step_output_that_cannot_be_stored_fails_the_execution_at_its_finish(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    body = definition(
        step("hear", "wait_for_signal", signal="go"),
        step("mark", "update_status", status="done"),
        statuses=["done"],
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    await waiting_at(handle, "hear")

    # The signal's payload becomes the step's output, recorded with the finish's save.
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="go", payload={"note": "a\x00b"}))
    result = await _result(handle)

    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("The execution ended but its record could not be saved: ")
    assert "cannot be stored" in result.error
    execution = _execution(engine_services, execution_id)
    assert execution.status == "failed"
    assert execution.error == result.error
    assert event_types(engine_db, execution_id)[-1] == "Failed"


class WatchFailureRecords(Interceptor):
    """Notes when the engine first tries to record that an execution could not begin."""

    def __init__(self) -> None:
        self.failure_recording = asyncio.Event()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Watch(next, self.failure_recording)


class _Watch(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, seen: asyncio.Event) -> None:
        super().__init__(next)
        self._seen = seen

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if any(isinstance(arg, BeginExecution) and arg.error for arg in input.args):
            self._seen.set()
        return await self.next.execute_activity(input)


def _outage(database_url: str, *, down: bool) -> None:
    """Take the execution's database away (refuse new connections, end the open ones) or give
    it back: what the worker sees while Postgres is down or failing over."""
    name = dbname_of(database_url)
    admin = with_dbname(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), sql.SQL("false" if down else "true")
            )
        )
        if down:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


async def test_an_outage_longer_than_the_retry_window_fails_the_execution_with_the_reason(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording used to retry forever; it now gives up after its attempts (about five
    minutes; two here) and the execution ends failed, saying so, once Postgres is back."""
    shortened = RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        maximum_interval=timedelta(seconds=1),
        maximum_attempts=2,
        non_retryable_error_types=REFUSAL_TYPES,
    )
    monkeypatch.setattr(engine, "RECORD_RETRY", shortened)
    services = build_services(database_url, pool_size=2)
    body = definition(step("review", "assign_task", title="Review", assign_to="role:hr"))
    try:
        # The product's worker, unsandboxed so that its workflows read the shortened policy.
        watch = WatchFailureRecords()
        config = build_worker(
            temporal_env.client,
            services,
            f"{task_queue}-unrun",
            interceptors=[watch],
            outbound=ALLOW_LOOPBACK,
        ).config()
        config["task_queue"] = task_queue
        config["workflow_runner"] = UnsandboxedWorkflowRunner()
        async with Worker(**config):
            _outage(database_url, down=True)
            try:
                execution_id, handle = await start(temporal_env.client, task_queue, body)
                # The begin gave up once the record of its failure is tried (each attempt may
                # wait up to 30 s for a pooled connection); that record now waits for Postgres.
                await asyncio.wait_for(watch.failure_recording.wait(), 120)
                await asyncio.sleep(1)
                assert (await snapshot(handle)).status == "pending"
            finally:
                _outage(database_url, down=False)
            result = await asyncio.wait_for(handle.result(), 90)
    finally:
        services.close()

    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("The execution could not be recorded: ")
    assert result.error.endswith("(gave up after 2 attempts)")
    assert event_types(database_url, execution_id) == [
        "Created",
        "Started",
        "StepStarted(start)",
        "Failed(start)",
    ]
