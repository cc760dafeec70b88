"""Waits for a fixed time, on a durable timer."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps import Wait
    from domain.steps.delay import DelayConfig

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: DelayConfig) -> str:
    length = config.length
    # A delay moved here from another version keeps the deadline it had (docs/engine.md).
    until = engine.deadline_carried(step) or workflow.now() + length
    await engine.wait_for(step, Wait("delay", until, step_id=step.id), lambda: False)
    output = {"until": until.isoformat(), "seconds": length.total_seconds()}
    await engine.done(step, "done", output)
    return engine.follow(step)
