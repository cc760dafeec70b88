"""Changes the execution's contact; templates later read the contact as it now is."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.update_contact import UpdateContactConfig
    from worker.step_calls import EngineActivities, UpdateContactStep

from worker.workflows.engine import Engine, StepHalt, describe


async def run(engine: Engine, step: Step, config: UpdateContactConfig) -> str:
    if engine.state.contact_id is None:
        raise StepHalt("failed", describe(step, "this execution has no contact to update."))
    call = UpdateContactStep(
        **engine.base(step, "update"), contact_id=engine.state.contact_id, changes=config.fields
    )
    output = await engine.step_call(step, EngineActivities.update_contact_step, call)
    engine.state.contact = dict(output.get("contact") or engine.state.contact)
    engine.complete(step, output)
    return engine.follow(step)
