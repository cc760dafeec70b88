"""`update_contact`: changes the execution's contact (`first_name`, …, `fields.<key>`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Field, Object, StepConfig, StepType
from domain.steps.checks import StepConfigChecker


class UpdateContactConfig(StepConfig):
    fields: Object = Field(default_factory=dict)


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    fields = c.object(config, "fields", required=True)
    if "fields" in config and isinstance(config["fields"], Mapping) and not fields:
        c.add("fields", "'fields' is empty; name at least one contact field to change.")
    c.contact_mapping(fields, "fields")


TYPE = StepType("update_contact", UpdateContactConfig, check)
