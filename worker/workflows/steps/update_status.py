"""The only way an execution's ui_status changes while it runs; a status rendered from a template
must still be one the definition declares. Needs no activity of its own: the status change is
recorded with the next call (histories from before that call `update_status_step`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.update_status import UpdateStatusConfig
    from worker.step_calls import EngineActivities, UpdateStatusStep

from worker.workflows.engine import Engine, StepHalt, describe


async def run(engine: Engine, step: Step, config: UpdateStatusConfig) -> str:
    status = config.status or ""
    declared = [option.id for option in engine.definition.statuses]
    if declared and status not in declared:
        raise StepHalt(
            "failed",
            describe(
                step,
                f"status {status!r} is not one of the definition's statuses "
                f"({', '.join(declared)}).",
            ),
        )
    if engine.batching:
        output = {"ui_status": status, "previous": engine.state.ui_status}
        engine.state.ui_status = status
        await engine.done(step, "status", output, ui_status=status)
        return engine.follow(step)
    call = UpdateStatusStep(**engine.base(step, "status"), ui_status=status)
    output = await engine.step_call(step, EngineActivities.update_status_step, call)
    engine.state.ui_status = output.get("ui_status", status)
    engine.complete(step, output)
    return engine.follow(step)
