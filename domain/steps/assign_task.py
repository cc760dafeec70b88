"""`assign_task`: creates a task for a person or a role; later steps work on it by this step's
id (`task_from_step`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Date, Field, Object, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker, shown
from domain.templates import has_template

MAX_TITLE_LENGTH = 500


class AssignTaskConfig(StepConfig):
    title: Text = None
    assign_to: Text = None
    description: Text = None
    priority: Text = None
    due_date: Date = None
    metadata: Object = Field(default_factory=dict)


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    title = c.text(config, "title", required=True)
    if title is not None and not has_template(title) and len(title) > MAX_TITLE_LENGTH:
        c.add(
            "title",
            f"'title' is {len(title)} characters long; at most {MAX_TITLE_LENGTH} are allowed.",
        )
    if c.required(config, "assign_to"):
        c.assignee(config["assign_to"], "assign_to")
    if config.get("priority") is not None:
        c.priority(config["priority"], "priority")
    if config.get("due_date") is not None:
        c.date(config["due_date"], "due_date")
    if config.get("description") is not None and not isinstance(config["description"], str):
        c.add("description", f"'description' must be text, not {shown(config['description'])}.")
    c.object_or_template(config, "metadata")


TYPE = StepType("assign_task", AssignTaskConfig, check)
