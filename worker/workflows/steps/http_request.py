"""An outbound call; `retries` (default 3) more attempts after a 5xx or no answer, backing off
from `backoff_seconds` (default 1, doubling). A 4xx fails the step at once."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.http_request import HttpRequestConfig
    from worker.contracts import REFUSAL_TYPES
    from worker.step_calls import HTTP_CLIENT_ERROR, EngineActivities, HttpRequestStep

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: HttpRequestConfig) -> str:
    call = HttpRequestStep(
        **engine.base(step, "http", carry=False),
        method=config.verb,
        url=config.url,
        headers=config.headers,
        body=config.body,
        timeout_seconds=config.timeout,
    )
    # Started before the call, so the timeline shows how long the call took (and the steps
    # still pending are recorded with it).
    await engine.record_step(step, "start")
    backoff = config.backoff
    retry = RetryPolicy(
        initial_interval=timedelta(seconds=backoff),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max(backoff * 16, 60)),
        maximum_attempts=config.attempts,
        non_retryable_error_types=[HTTP_CLIENT_ERROR, *REFUSAL_TYPES],
    )
    output = await engine.remote_step_call(
        step,
        EngineActivities.http_request_step,
        call,
        timeout=timedelta(seconds=config.timeout + 15),
        retry=retry,
    )
    engine.complete(step, output)
    return engine.follow(step)
