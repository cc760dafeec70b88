"""`send_email`: sends one email and records whether it was delivered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Addresses, Field, SomeAddresses, StepConfig, StepType, Text
from domain.steps.checks import StepConfigChecker


class SendEmailConfig(StepConfig):
    to: SomeAddresses
    cc: Addresses = Field(default_factory=list)
    sender: Addresses = Field(default_factory=list, alias="from")
    subject: Text = None
    body: Text = None


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    if c.required(config, "to"):
        c.addresses(config["to"], "to")
    if config.get("cc") is not None:
        c.addresses(config["cc"], "cc")
    if config.get("from") is not None:
        c.addresses(config["from"], "from")
    c.text(config, "subject", required=True)
    c.text(config, "body", required=True)


TYPE = StepType("send_email", SendEmailConfig, check)
