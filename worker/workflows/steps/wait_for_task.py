"""Waits for `task_status_changed` of its own task (signals for other tasks are kept but do not
wake it). `done` completes the wait; so does `cancelled`, with that status in the output so that
a condition can branch on it. `timeout_days` with `on_timeout: send_reminder` reminds the
assignee after each period, up to `max_reminders` (default 3), then times out."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps import Wait
    from domain.steps.wait_for_task import WaitForTaskConfig
    from worker.step_calls import SendReminder

from worker.workflows.engine import FINISHED_TASK_STATUSES, Engine
from worker.workflows.steps.common import after_timeout, duration_text, task_output


async def run(engine: Engine, step: Step, config: WaitForTaskConfig) -> str:
    task_id = engine.task_from_step(step, config.task_from_step).task_id
    period = timedelta(days=config.timeout_days) if config.timeout_days > 0 else None
    max_reminders = int(config.max_reminders)
    reminders = 0

    def finished() -> bool:
        return engine.state.tasks[task_id].status in FINISHED_TASK_STATUSES

    def wait() -> Wait:
        until = None if period is None else workflow.now() + period
        return Wait("task", until, step_id=step.id, task_id=task_id)

    if not finished():
        arrived = await engine.wait_for(step, wait(), finished)
        while not arrived:
            assert period is not None
            if config.on_timeout == "send_reminder" and reminders < max_reminders:
                reminders += 1
                again = wait()
                current = engine.state.tasks[task_id]
                await engine.remind(
                    step,
                    SendReminder(
                        meta=engine.input.meta,
                        execution_id=engine.input.execution_id,
                        command_key=engine.key(step, f"reminder-{reminders}"),
                        step_id=step.id,
                        task_id=task_id,
                        recipient=current.assigned_to or "assignee",
                        count=reminders,
                        message=f"Reminder: the task '{current.title or task_id}' is still open.",
                        wait_again=again,
                    ),
                )
                engine.waiting = again
                try:
                    await workflow.wait_condition(
                        lambda: finished() or engine.moving, timeout=period
                    )
                    engine.check_moved()
                    arrived = True
                except TimeoutError:
                    arrived = False
                continue
            output = {
                "task": task_output(engine.state.tasks[task_id]),
                "timed_out": True,
                "reminders_sent": reminders,
            }
            waited = duration_text(period * (reminders + 1))
            return await after_timeout(engine, step, config.on_timeout, output, waited)
    output = {
        "task": task_output(engine.state.tasks[task_id]),
        "timed_out": False,
        "reminders_sent": reminders,
    }
    await engine.done(step, "done", output)
    return engine.follow(step)
