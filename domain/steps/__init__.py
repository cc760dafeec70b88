"""One module per step type, and the registry that maps a type's name to it.

Each module holds the type's config model (frozen, typed: what the runner receives after its
templates are rendered) and its definition-time `check`. Adding a step type: its module here,
its runner in worker/workflows/steps/, and one line below.
"""

from __future__ import annotations

from domain.steps import (
    archive_contact,
    assign_task,
    complete_task,
    condition,
    create_contact,
    delay,
    for_each,
    http_request,
    llm,
    parallel,
    reminder,
    send_email,
    set_due_date,
    transform,
    trigger,
    update_contact,
    update_status,
    update_task,
    wait_for_signal,
    wait_for_task,
)
from domain.steps.base import StepConfig, StepConfigError, StepDone, StepRef, StepType, Wait
from domain.steps.checks import END
from domain.steps.registry import STEP_TYPES, register, step_type, step_types

register(trigger.TYPE)
register(assign_task.TYPE)
register(wait_for_task.TYPE)
register(update_task.TYPE)
register(complete_task.TYPE)
register(update_contact.TYPE)
register(update_status.TYPE)
register(set_due_date.TYPE)
register(send_email.TYPE)
register(reminder.TYPE)
register(delay.TYPE)
register(condition.TYPE)
register(wait_for_signal.TYPE)
register(http_request.TYPE)
register(transform.TYPE)
register(create_contact.TYPE)
register(archive_contact.TYPE)
register(llm.TYPE)
register(parallel.TYPE)
register(for_each.TYPE)

__all__ = [
    "END",
    "STEP_TYPES",
    "StepConfig",
    "StepConfigError",
    "StepDone",
    "StepRef",
    "StepType",
    "Wait",
    "register",
    "step_type",
    "step_types",
]
