"""Waits for the named signal (one sent earlier is already waiting in the state)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps import Wait
    from domain.steps.wait_for_signal import WaitForSignalConfig

from worker.workflows.engine import Engine
from worker.workflows.steps.common import after_timeout, duration_text


async def run(engine: Engine, step: Step, config: WaitForSignalConfig) -> str:
    name = config.signal
    queue = engine.state.signals
    period = config.period

    def arrived() -> bool:
        return bool(queue.get(name))

    if not arrived():
        until = None if period is None else workflow.now() + period
        wait = Wait("signal", until, step_id=step.id, signal=name)
        if not await engine.wait_for(step, wait, arrived):
            assert period is not None
            output = {"signal": name, "payload": {}, "timed_out": True}
            waited = duration_text(period)
            return await after_timeout(engine, step, config.on_timeout, output, waited)
    payload = queue[name].pop(0)
    if not queue[name]:
        del queue[name]
    await engine.done(step, "done", {"signal": name, "payload": payload, "timed_out": False})
    return engine.follow(step)
