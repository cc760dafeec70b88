"""`wait_for_signal`: waits for the named signal (POST /executions/{id}/signals/{name}); one sent
before the step is reached is kept until it runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from domain.steps.base import Ident, Number, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker

TIMEOUT_ACTIONS = ("fail", "continue")
SIGNAL_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class WaitForSignalConfig(StepConfig):
    signal: Ident
    timeout_days: Number = 0.0
    timeout_hours: Number = 0.0
    on_timeout: Text = None

    @property
    def period(self) -> timedelta | None:
        length = timedelta(days=self.timeout_days, hours=self.timeout_hours)
        return length if length > timedelta(0) else None


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    signal = c.text(config, "signal", required=True)
    if signal is not None and not SIGNAL_NAME.fullmatch(signal):
        c.add("signal", f"Signal name {signal!r} may use only letters, digits, '_', '.' and '-'.")
    c.optional_number(config, "timeout_days")
    c.optional_number(config, "timeout_hours")
    if config.get("on_timeout") is not None:
        c.jump_target(config["on_timeout"], "on_timeout", actions=TIMEOUT_ACTIONS)


TYPE = StepType("wait_for_signal", WaitForSignalConfig, check)
