"""`set_variable`: keeps a value under a name; later templates read `{{<step id>.value}}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Ident, StepConfig, StepType
from domain.steps.checks import StepConfigChecker

RUNNER = "tests.integration.engine.set_variable.runner"


class SetVariableConfig(StepConfig):
    name: Ident
    value: Any = None


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.text(config, "name", required=True)
    if "value" not in config:
        c.add("value", "A set_variable step needs 'value' (null is a value).")


# The built-in types leave `runner` out: theirs is worker/workflows/steps/<name>.py.
TYPE = StepType("set_variable", SetVariableConfig, check, runner=RUNNER)
