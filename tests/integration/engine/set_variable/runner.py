"""The runner of `set_variable`: no activity of its own, so it is recorded with the next call."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step

from tests.integration.engine.set_variable.config import SetVariableConfig
from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: SetVariableConfig) -> str:
    await engine.done(step, "done", {"name": config.name, "value": config.value})
    return engine.follow(step)
