"""Marks the task done (with `outcome` and `metadata` merged into its metadata). The execution
learns it directly, so a later wait_for_task on it does not wait."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.complete_task import CompleteTaskConfig
    from worker.step_calls import CompleteTaskStep, EngineActivities

from worker.workflows.engine import Engine
from worker.workflows.steps.common import learn


async def run(engine: Engine, step: Step, config: CompleteTaskConfig) -> str:
    task = engine.task_from_step(step, config.task_from_step)
    call = CompleteTaskStep(
        **engine.base(step, "complete"), task_id=task.task_id, metadata=config.task_metadata()
    )
    output = await engine.step_call(step, EngineActivities.complete_task_step, call)
    learn(engine, task.step_id, output)
    engine.complete(step, output)
    return engine.follow(step)
