"""Sends the email from a regular activity (SMTP may need retries), recorded as it went."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.send_email import SendEmailConfig
    from worker.contracts import REFUSAL_TYPES
    from worker.step_calls import EngineActivities, SendEmailStep

from worker.workflows.engine import Engine

# SMTP failures stop after `SendEmailStep.max_attempts` (the activity then records the email as
# not delivered and the step completes); what still fails after that (recording it: Postgres)
# retries until EMAIL_WINDOW, five SMTP attempts of up to a minute each plus the recording's
# own window, and then fails the step with the reason instead of retrying forever.
EMAIL_WINDOW = timedelta(minutes=10)
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=REFUSAL_TYPES,
)


async def run(engine: Engine, step: Step, config: SendEmailConfig) -> str:
    call = SendEmailStep(
        **engine.base(step, "email", carry=False),
        to=config.to,
        cc=config.cc,
        sender=config.sender[0] if config.sender else None,
        subject=config.subject or "",
        body=config.body or "",
    )
    await engine.flush(step)
    output = await engine.remote_step_call(
        step,
        EngineActivities.send_email_step,
        call,
        timeout=timedelta(seconds=60),
        retry=EMAIL_RETRY,
        window=EMAIL_WINDOW,
    )
    engine.complete(step, output)
    return engine.follow(step)
