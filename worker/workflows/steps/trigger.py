"""Runs once, at the start (Engine.begin); met again only if a definition loops to it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.trigger import TriggerConfig

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: TriggerConfig) -> str:
    await engine.done(step, "done", {"type": config.type})
    return engine.follow(step)
