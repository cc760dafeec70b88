"""`wait_for_task`: waits until the task of an earlier assign_task step is done or cancelled;
`timeout_days` with `on_timeout: send_reminder` reminds the assignee after each period, up to
`max_reminders`, then times out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Ident, Number, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker

TIMEOUT_ACTIONS = ("send_reminder", "fail", "continue")
DEFAULT_MAX_REMINDERS = 3


class WaitForTaskConfig(StepConfig):
    task_from_step: Ident
    timeout_days: Number = 0.0
    on_timeout: Text = None
    max_reminders: Number = DEFAULT_MAX_REMINDERS


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=True)
    c.optional_number(config, "timeout_days")
    c.optional_number(config, "max_reminders", whole=True)
    if config.get("on_timeout") is not None:
        c.jump_target(config["on_timeout"], "on_timeout", actions=TIMEOUT_ACTIONS)


TYPE = StepType("wait_for_task", WaitForTaskConfig, check)
