"""The first branch whose `if` matches `field` wins; else `default`; else the next step."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.condition import ConditionConfig

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: ConditionConfig) -> str:
    matched, target = config.choose()
    target = target if target is not None else engine.follow(step)
    output = {"value": config.field, "branch": target, "matched": matched}
    await engine.done(step, "done", output)
    return target
