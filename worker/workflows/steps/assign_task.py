"""Creates the task; later steps find it by this step's id."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.assign_task import AssignTaskConfig
    from worker.step_calls import AssignTaskStep, EngineActivities

from worker.workflows.engine import Engine
from worker.workflows.steps.common import learn


async def run(engine: Engine, step: Step, config: AssignTaskConfig) -> str:
    call = AssignTaskStep(
        **engine.base(step, "assign"),
        title=config.title or "",
        assigned_to=config.assign_to or "",
        description=config.description,
        priority=config.priority or "medium",
        due_date=config.due_date,
        metadata=config.metadata,
        contact_id=engine.state.contact_id,
    )
    output = await engine.step_call(step, EngineActivities.assign_task_step, call)
    task = learn(engine, step.id, output)
    engine.state.step_tasks[step.id] = task.task_id
    engine.complete(step, output)
    return engine.follow(step)
