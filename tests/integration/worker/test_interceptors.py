"""The activity interceptor: every activity logs under its command's context, and a domain
refusal reaches the workflow at once as a non-retryable failure while other errors retry."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import structlog
from pydantic import BaseModel
from structlog.testing import capture_logs
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from application.errors import NotFoundError
from domain.errors import InvalidValueError
from worker.contracts import CommandMeta
from worker.interceptors import ActivityContextInterceptor


class Probe(BaseModel):
    meta: CommandMeta
    raise_: str | None = None


class ProbeActivities:
    @activity.defn
    def probe(self, probe: Probe) -> dict[str, Any]:
        """A plain ``def``: runs on the worker's thread pool, as the command activities do."""
        if probe.raise_ == "not_found":
            raise NotFoundError("task", "t-1")
        if probe.raise_ == "invalid":
            raise InvalidValueError(
                "priority 'urgent' is not one of low, medium, high", field="priority"
            )
        if probe.raise_ == "crash":
            raise ConnectionError("the database went away")
        return dict(structlog.contextvars.get_contextvars())


@workflow.defn
class ProbeWorkflow:
    @workflow.run
    async def run(self, probe: Probe) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity_method(
            ProbeActivities.probe,
            probe,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=10), maximum_attempts=3
            ),
        )
        return result


META = CommandMeta(org_id="org_a", actor="user:42", correlation_id="corr-1", request_id="req-1")


async def _run(env: WorkflowEnvironment, probe: Probe) -> dict[str, Any]:
    activities = ProbeActivities()
    queue = f"interceptors-{uuid.uuid4()}"
    workflow_id = f"probe-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[ProbeWorkflow],
        activities=[activities.probe],
        activity_executor=ThreadPoolExecutor(max_workers=2),
        interceptors=[ActivityContextInterceptor()],
        # What is under test runs in activities; the probe workflow needs no sandbox.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        result: dict[str, Any] = await env.client.execute_workflow(
            ProbeWorkflow.run, probe, id=workflow_id, task_queue=queue
        )
    return {**result, "expected_workflow_id": workflow_id}


async def test_an_activity_logs_under_its_commands_org_workflow_and_request(
    temporal_env: WorkflowEnvironment,
) -> None:
    bound = await _run(temporal_env, Probe(meta=META))

    assert bound["org_id"] == "org_a"
    assert bound["correlation_id"] == "corr-1"
    assert bound["request_id"] == "req-1"
    assert bound["activity"] == "probe"
    assert bound["workflow_id"] == bound["expected_workflow_id"]


@pytest.mark.parametrize(
    ("raise_", "kind", "details"),
    [
        ("not_found", "NotFound", {"message": "task t-1 was not found"}),
        ("invalid", "InvalidValue", {"field": "priority"}),
    ],
)
async def test_a_refusal_fails_the_activity_once_without_retry_and_says_what_was_refused(
    temporal_env: WorkflowEnvironment, raise_: str, kind: str, details: dict[str, str]
) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(temporal_env, Probe(meta=META, raise_=raise_))

    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    refusal = cause.cause
    assert isinstance(refusal, ApplicationError)
    assert refusal.type == kind
    assert refusal.non_retryable
    assert cause.retry_state is not None and cause.retry_state.name == "NON_RETRYABLE_FAILURE"
    assert details.items() <= refusal.details[0].items()


async def test_an_error_that_is_not_a_refusal_is_retried(
    temporal_env: WorkflowEnvironment,
) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(temporal_env, Probe(meta=META, raise_="crash"))

    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "ConnectionError"
    assert cause.retry_state is not None and cause.retry_state.name == "MAXIMUM_ATTEMPTS_REACHED"


# -- what a refusal leaves in the log (issue 10, item 11) ---------------------------------------


def _tracebacks(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.WARNING and r.exc_info is not None]


async def test_a_refusal_is_one_log_line_naming_the_refusal_and_the_command_without_traceback(
    temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="temporalio")
    with capture_logs() as logs, pytest.raises(WorkflowFailureError):
        await _run(temporal_env, Probe(meta=META, raise_="invalid"))

    refused = [line for line in logs if line["event"] == "activity.refused"]
    assert len(refused) == 1
    (line,) = refused
    assert line["refusal"] == "InvalidValue"
    assert line["command"] == "Probe"
    assert line["reason"] == "priority 'urgent' is not one of low, medium, high"
    assert line["log_level"] == "info"
    assert "exc_info" not in line
    assert _tracebacks(caplog.records) == []


async def test_a_real_error_keeps_its_traceback(
    temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="temporalio")
    with capture_logs() as logs, pytest.raises(WorkflowFailureError):
        await _run(temporal_env, Probe(meta=META, raise_="crash"))

    assert [line for line in logs if line["event"] == "activity.refused"] == []
    logged = _tracebacks(caplog.records)
    assert logged, "a crash must still be logged with its traceback"
    assert all("the database went away" in str(r.exc_info[1]) for r in logged if r.exc_info)
