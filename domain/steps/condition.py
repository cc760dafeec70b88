"""`condition`: the first branch whose `if` matches `field` wins; else `default`; else the next
step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Field, Ident, StepConfig, StepType, Text
from domain.steps.checks import END, StepConfigChecker


class Branch(StepConfig):
    when: Any = Field(default=None, alias="if")
    then_goto: Ident


class ConditionConfig(StepConfig):
    field: Any = None
    branches: list[Branch] = Field(default_factory=list)
    default: Text = None

    def choose(self) -> tuple[int | None, str | None]:
        """The index and target of the first matching branch, or (None, `default`)."""
        for index, branch in enumerate(self.branches):
            if matches(self.field, branch.when):
                return index, branch.then_goto
        return None, self.default


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def matches(value: Any, expected: Any) -> bool:
    """A branch matches by equality; scalars also match by their text, so that a number rendered
    from a template equals the same number written as text in `if`."""
    if isinstance(value, dict | list) or isinstance(expected, dict | list):
        return bool(value == expected)
    return _scalar_text(value) == _scalar_text(expected)


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.text(config, "field", required=True)
    branches = config.get("branches")
    if not isinstance(branches, list) or not branches:
        c.add(
            "branches",
            "A condition step needs 'branches': a non-empty list of "
            '{"if": ..., "then_goto": ...}.',
        )
        branches = []
    for index, branch in enumerate(branches):
        where = f"branches[{index}]"
        if not isinstance(branch, Mapping):
            c.add(where, f"'{where}' must be an object with 'if' and 'then_goto'.")
            continue
        if "if" not in branch:
            c.add(f"{where}.if", f"'{where}' needs 'if': the value to compare with.")
        if "then_goto" not in branch:
            c.add(f"{where}.then_goto", f"'{where}' needs 'then_goto': a step id or '{END}'.")
        else:
            c.jump_target(branch["then_goto"], f"{where}.then_goto")
    if config.get("default") is not None:
        c.jump_target(config["default"], "default")


TYPE = StepType("condition", ConditionConfig, check)
