"""`reminder`: schedules a reminder and moves on at once; it fires later (at `at`, or after the
`delay_*`) unless its task is done by then."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Addresses, Date, Field, Number, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker


class ReminderConfig(StepConfig):
    task_from_step: Text = None
    message: Text = None
    at: Date = None
    delay_days: Number = 0.0
    delay_hours: Number = 0.0
    delay_minutes: Number = 0.0
    to: Addresses = Field(default_factory=list)
    subject: Text = None


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=False)
    c.text(config, "message", required=True)
    delays = [key for key in ("delay_days", "delay_hours", "delay_minutes") if key in config]
    for key in delays:
        c.number(config[key], key)
    if "at" in config:
        if delays:
            c.add("at", f"Give either 'at' or {', '.join(delays)}, not both.")
        c.date(config["at"], "at")
    elif not delays:
        c.add(
            "delay_days",
            "A reminder step needs when to fire: delay_days, delay_hours, delay_minutes or at.",
        )


TYPE = StepType("reminder", ReminderConfig, check)
