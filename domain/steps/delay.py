"""`delay`: waits for a fixed time (a durable timer)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from domain.steps.base import Number, StepConfig, StepType
from domain.steps.checks import StepConfigChecker

UNITS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


class DelayConfig(StepConfig):
    days: Number = 0.0
    hours: Number = 0.0
    minutes: Number = 0.0
    seconds: Number = 0.0

    @property
    def length(self) -> timedelta:
        return timedelta(
            days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
        )


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    given = [key for key in UNITS if key in config]
    if not given:
        c.add("days", "A delay step needs at least one of days, hours, minutes or seconds.")
        return
    total = 0.0
    valid = True
    for key in given:
        value = c.number(config[key], key, inclusive=True)
        if value is None:
            valid = False
        else:
            total += value * UNITS[key]
    if valid and total <= 0:
        c.add(given[0], "A delay step must wait for some time; its duration adds up to zero.")


TYPE = StepType("delay", DelayConfig, check)
