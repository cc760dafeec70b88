"""Changes the named fields of an earlier step's task."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.update_task import UpdateTaskConfig
    from worker.step_calls import EngineActivities, UpdateTaskStep

from worker.workflows.engine import Engine
from worker.workflows.steps.common import learn


async def run(engine: Engine, step: Step, config: UpdateTaskConfig) -> str:
    task = engine.task_from_step(step, config.task_from_step)
    changes = config.updates.changes()
    sets_due_date = "due_date" in changes
    due_date = changes.pop("due_date", None)
    call = UpdateTaskStep(
        **engine.base(step, "update"),
        task_id=task.task_id,
        changes=changes,
        sets_due_date=sets_due_date,
        due_date=due_date,
    )
    output = await engine.step_call(step, EngineActivities.update_task_step, call)
    learn(engine, task.step_id, output)
    engine.complete(step, output)
    return engine.follow(step)
