"""`set_due_date`: reschedules the task of an earlier assign_task step, or without one records
the execution's own due date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import RequiredDate, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker


class SetDueDateConfig(StepConfig):
    due_date: RequiredDate
    task_from_step: Text = None


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    if c.required(config, "due_date"):
        c.date(config["due_date"], "due_date")
    c.task_reference(config, "task_from_step", required=False)


TYPE = StepType("set_due_date", SetDueDateConfig, check)
