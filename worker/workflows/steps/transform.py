"""Computes the step's JMESPath expressions inside the workflow: pure, bounded and the same on
every replay (domain/steps/transform.py says why that is safe), so it needs no activity of its
own and is recorded with the next call's save, like a condition."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.transform import TransformConfig, TransformError, evaluate

from worker.workflows.engine import Engine, StepHalt, describe


async def run(engine: Engine, step: Step, config: TransformConfig) -> str:
    try:
        output = evaluate(config.expressions, engine.template_context())
    except TransformError as error:
        raise StepHalt("failed", describe(step, str(error))) from None
    await engine.done(step, "transform", output)
    return engine.follow(step)
