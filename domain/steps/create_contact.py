"""`create_contact` ("Create Record"): creates a new contact from `fields`, a contact mapping
like the trigger's (`first_name`, …, `fields.<key>`, values or templates). The execution keeps
its own contact; the new one is the step's output, `{{<step id>.contact.id}}` for later steps
(an `archive_contact` step, an `http_request`'s body)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Field, Object, StepConfig, StepType
from domain.steps.checks import StepConfigChecker

IDENTITY = ("first_name", "last_name", "email")


class CreateContactConfig(StepConfig):
    fields: Object = Field(default_factory=dict)


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    fields = c.object(config, "fields", required=True)
    if "fields" in config and isinstance(config["fields"], Mapping):
        if not fields:
            c.add("fields", "'fields' is empty; a new contact needs at least a name or an email.")
        elif not any(fields.get(name) not in (None, "") for name in IDENTITY):
            c.add(
                "fields",
                "A new contact needs at least one of first_name, last_name or email "
                "(a value or a template).",
            )
    c.contact_mapping(fields, "fields")


TYPE = StepType("create_contact", CreateContactConfig, check)
