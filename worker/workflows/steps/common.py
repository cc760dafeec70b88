"""What several runners share: tasks learned from step outputs, timeouts of waits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from worker.contracts import TaskRef

from worker.workflows.engine import Engine, StepHalt, describe


def task_output(task: TaskRef) -> dict[str, Any]:
    return {
        "id": task.task_id,
        "status": task.status,
        "metadata": task.metadata,
        "completed_at": task.completed_at,
    }


def learn(engine: Engine, step_id: str, output: dict[str, Any]) -> TaskRef:
    """Keep the task a step's output describes; later steps and signals refer to it."""
    task = output["task"]
    ref = TaskRef(
        task_id=task["id"],
        step_id=task.get("step_id") or step_id,
        status=task["status"],
        title=task.get("title"),
        assigned_to=task.get("assigned_to"),
        metadata=task.get("metadata") or {},
        completed_at=task.get("completed_at"),
        version=task.get("version"),
        assigned=True,
    )
    engine.learn_task(ref)
    return engine.state.tasks[ref.task_id]


async def after_timeout(
    engine: Engine, step: Step, on_timeout: str | None, output: dict[str, Any], waited: str
) -> str:
    """`on_timeout`: absent or exhausted reminders → timed_out; `fail` → failed; `continue` →
    the next step; a step id or `end` → jump there. The step's output says `timed_out`."""
    if on_timeout in (None, "send_reminder"):
        raise StepHalt("timed_out", describe(step, f"timed out after waiting {waited}."))
    if on_timeout == "fail":
        raise StepHalt("failed", describe(step, f"timed out after waiting {waited}."))
    await engine.done(step, "timed-out", output)
    if on_timeout == "continue":
        return engine.follow(step)
    return str(on_timeout)


def duration_text(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 86400 and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds:g} seconds"
