"""`update_status`: the only way an execution's `ui_status` changes while it runs; the status
must be one the definition declares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker
from domain.templates import has_template


class UpdateStatusConfig(StepConfig):
    status: Text = None


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    status = c.text(config, "status", required=True)
    if status is None or has_template(status) or c.status_ids is None:
        return
    if status not in c.status_ids:
        allowed = ", ".join(sorted(c.status_ids)) or "none"
        c.add("status", f"Status {status!r} is not one of the definition's statuses ({allowed}).")


TYPE = StepType("update_status", UpdateStatusConfig, check)
