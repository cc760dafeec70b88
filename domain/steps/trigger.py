"""`trigger`: how an execution starts. It runs once, at the start; a definition may loop back to
it only through `next` (validation forbids jumping to it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.cron import cron_problems
from domain.steps.base import Field, Object, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker, shown

TRIGGER_TYPES: tuple[str, ...] = (
    "form_submission",
    "webhook",
    "manual",
    "schedule",
    "record_created",
    "record_updated",
    "field_changed",
    "record_deleted",
)


class TriggerConfig(StepConfig):
    type: Text = None
    contact: Object = Field(default_factory=dict)


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    trigger_type = config.get("type")
    if trigger_type is None:
        c.add("type", f"A trigger step needs 'type', one of {', '.join(TRIGGER_TYPES)}.")
    elif trigger_type not in TRIGGER_TYPES:
        c.add(
            "type",
            f"Trigger type {shown(trigger_type)} is unknown; use one of "
            f"{', '.join(TRIGGER_TYPES)}.",
        )
    elif trigger_type == "schedule":
        cron = c.text(config, "cron", required=True)
        if cron is not None:
            for message in cron_problems(cron):
                c.add("cron", message)
    elif trigger_type == "field_changed":
        c.text(config, "field", required=True)
    if config.get("contact") is not None:
        c.contact_mapping(c.object(config, "contact", required=False), "contact")


TYPE = StepType("trigger", TriggerConfig, check)
