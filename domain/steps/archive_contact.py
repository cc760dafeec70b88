"""`archive_contact` ("Delete Record"): archives a contact, the execution's own unless
`contact_id` (a contact id or a template such as `{{new.contact.id}}`) names another. Contacts
are never erased: archiving is the domain's delete (the event history stays for auditors), and
an archived contact refuses every later change. Archiving fires `record_deleted` triggers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.steps.base import StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker
from domain.templates import has_template

MAX_REASON_CHARS = 1_000


class ArchiveContactConfig(StepConfig):
    contact_id: Text = None
    reason: Text = None


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    contact_id = c.text(config, "contact_id", required=False)
    if contact_id is not None and not has_template(contact_id):
        try:
            UUID(contact_id)
        except ValueError:
            c.add(
                "contact_id",
                f"'contact_id' is {contact_id!r}; it must be a contact id or a template "
                "such as {{step_2.contact.id}}.",
            )
    reason = c.text(config, "reason", required=False)
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        c.add("reason", f"'reason' is longer than {MAX_REASON_CHARS} characters.")


TYPE = StepType("archive_contact", ArchiveContactConfig, check)
