"""Reschedules an earlier step's task, or records the execution's own due date."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.set_due_date import SetDueDateConfig
    from worker.step_calls import EngineActivities, SetDueDateStep

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: SetDueDateConfig) -> str:
    source = config.task_from_step
    task = None if source is None else engine.task_from_step(step, source)
    call = SetDueDateStep(
        **engine.base(step, "due-date"),
        due_date=config.due_date,
        task_id=None if task is None else task.task_id,
    )
    output = await engine.step_call(step, EngineActivities.set_due_date_step, call)
    engine.complete(step, output)
    return engine.follow(step)
