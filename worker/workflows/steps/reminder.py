"""Schedules a reminder and moves on at once; it fires later unless its task is done."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps.reminder import ReminderConfig
    from worker.contracts import PendingReminder

from worker.workflows.engine import Engine


async def run(engine: Engine, step: Step, config: ReminderConfig) -> str:
    source = config.task_from_step
    task = None if source is None else engine.task_from_step(step, source)
    if config.at is not None:
        fire_at = config.at
    else:
        fire_at = workflow.now() + timedelta(
            days=config.delay_days, hours=config.delay_hours, minutes=config.delay_minutes
        )
    recipient = ", ".join(config.to) or (task.assigned_to if task else None) or "execution"
    pending = PendingReminder(
        key=engine.key(step, "reminder"),
        step_id=step.id,
        fire_at=fire_at,
        message=config.message or "",
        recipient=recipient,
        task_id=None if task is None else task.task_id,
        email_to=config.to,
        subject=config.subject or f"Reminder: {step.name}",
    )
    output = {
        "scheduled_for": fire_at.isoformat(),
        "task_id": pending.task_id,
        "recipient": recipient,
    }
    await engine.done(step, "scheduled", output)
    engine.schedule_reminder(pending)
    return engine.follow(step)
