"""Creates a new contact ("Create Record"); the execution keeps its own contact, and later steps
read the new one as `{{<step id>.contact.…}}`."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.create_contact import CreateContactConfig
    from worker.step_calls import CreateContactStep, EngineActivities

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: CreateContactConfig) -> str:
    call = CreateContactStep(**engine.base(step, "create"), fields=config.fields)
    output = await engine.step_call(step, EngineActivities.create_contact_step, call)
    engine.complete(step, output)
    return engine.follow(step)
