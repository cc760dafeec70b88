"""Archives a contact ("Delete Record"): `contact_id`, else the execution's own. When it is the
execution's own, templates later read it as archived (`{{contact.archived}}`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.archive_contact import ArchiveContactConfig
    from worker.step_calls import ArchiveContactStep, EngineActivities

from worker.workflows.engine import Engine, StepHalt, describe


async def run(engine: Engine, step: Step, config: ArchiveContactConfig) -> str:
    contact_id = config.contact_id or engine.state.contact_id
    if not contact_id:
        raise StepHalt(
            "failed",
            describe(step, "this execution has no contact to archive, and 'contact_id' is unset."),
        )
    call = ArchiveContactStep(
        **engine.base(step, "archive"), contact_id=contact_id, reason=config.reason
    )
    output = await engine.step_call(step, EngineActivities.archive_contact_step, call)
    if contact_id == engine.state.contact_id:
        engine.state.contact = {**engine.state.contact, "archived": True}
    engine.complete(step, output)
    return engine.follow(step)
