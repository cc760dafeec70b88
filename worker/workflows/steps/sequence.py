"""Runs a sequence of steps inside a container step (a branch of a parallel step).

Each step runs as the execution's own steps do (worker/workflows/execution.py): rendered,
parsed, handed to its type's runner, its `on_failure` applied; a jump or `end` stays within the
sequence. Not a step type: the container's runner calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import END
    from domain.steps import step_type

from worker.workflows.engine import ScopeEngine, StepHalt, describe
from worker.workflows.steps import Runner, runner_for


def _runner(name: str) -> Runner | None:
    try:
        return runner_for(step_type(name))
    except (KeyError, ModuleNotFoundError):
        return None


async def run_sequence(engine: ScopeEngine) -> None:
    """Run the branch's steps to its end; a step's failure that its `on_failure` does not turn
    into a jump ends the branch with that StepHalt (the step is left for the container to
    record, with the branches it stops). A branch asked to stop (`stopping`) returns before its
    next step, or is cancelled in its wait."""
    branch = engine.branch
    step_id = branch.first_step_id
    while step_id != END:
        if engine.stopping:  # no longer needed: stop between steps
            return
        try:
            step = branch.step(step_id)
        except KeyError:  # validation forbids it; a hand-made input could still do it
            problem = f"branch '{branch.name}' jumped to step '{step_id}', which is not in it."
            raise StepHalt("failed", describe(engine.container, problem)) from None
        engine.state.step_seq += 1
        engine.current_step_id = step.id
        try:
            runner = _runner(step.type)
            if runner is None:
                raise StepHalt("failed", describe(step, f"unknown step type {step.type!r}."))
            config = engine.parse(step, engine.render(step))
            step_id = await runner(engine, step, config)
        except StepHalt as halt:
            policy = engine.error_policy(step, halt)
            if policy is None or policy == "park":  # park: refused inside a branch
                raise
            await engine.fail_step(step, halt.error)
            step_id = engine.follow(step) if policy == "continue" else policy
            continue
        engine.completed(step)
    engine.current_step_id = None
    engine.waiting = None
    engine.status = "completed"
    engine.ended = True


async def uninterrupted(work: Coroutine[Any, Any, None]) -> None:
    """Record a container's end even though the execution is being cancelled meanwhile; a
    recording that fails leaves the execution's own cancel to say it."""
    task = asyncio.create_task(work)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
        except StepHalt as halt:
            workflow.logger.warning("container's cancel not recorded", extra={"error": halt.error})
            return
