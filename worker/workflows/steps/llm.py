"""A chat completion: a regular activity (it reaches outside), retried like an http_request
step's call: `retries` (default 3) more attempts after a 429, 408, 5xx or no answer, backing off
from `backoff_seconds` (default 1, doubling, or as Retry-After says); another 4xx, or an answer
that is no completion (or not the JSON asked for), fails the step at once."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.llm import LlmConfig
    from worker.contracts import REFUSAL_TYPES
    from worker.step_calls import (
        HTTP_CLIENT_ERROR,
        LLM_ANSWER_ERROR,
        LLM_NOT_CONFIGURED,
        EngineActivities,
        LlmStep,
    )

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: LlmConfig) -> str:
    call = LlmStep(
        **engine.base(step, "llm", carry=False),
        model=config.model,
        messages=config.messages(),
        json_output=config.response_format == "json",
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        timeout_seconds=config.timeout,
        price_per_1k_input_tokens=config.price_per_1k_input_tokens,
        price_per_1k_output_tokens=config.price_per_1k_output_tokens,
    )
    # Started before the call, so the timeline shows how long the model took (and the steps
    # still pending are recorded first).
    await engine.record_step(step, "start")
    backoff = config.backoff
    retry = RetryPolicy(
        initial_interval=timedelta(seconds=backoff),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max(backoff * 16, 60)),
        maximum_attempts=config.attempts,
        non_retryable_error_types=[
            HTTP_CLIENT_ERROR,
            LLM_ANSWER_ERROR,
            LLM_NOT_CONFIGURED,
            *REFUSAL_TYPES,
        ],
    )
    output = await engine.remote_step_call(
        step,
        EngineActivities.llm_step,
        call,
        timeout=timedelta(seconds=config.timeout + 15),
        retry=retry,
    )
    engine.complete(step, output)
    return engine.follow(step)
