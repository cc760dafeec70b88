"""`for_each`: runs a sequence of steps once per item of a list.

`{"items": "{{payload.documents}}", "max_items": 100, "steps": [...]}`. `items` is a template
that renders to a list (or a literal list); a longer list than `max_items` (default 100, at most
1,000) fails the step before any iteration runs. Each iteration runs `steps` in order, reading
the item as `{{loop.item}}`, its index (from 0) as `{{loop.index}}` and the list's length as
`{{loop.count}}`; the step's output collects each iteration's step outputs, in order.

This module checks `items` and `max_items`; the steps inside are checked by the definition's
validation as steps of their own (definition_validation.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator

from domain.steps.base import StepConfig, StepType
from domain.steps.checks import StepConfigChecker, shown
from domain.templates import has_template

DEFAULT_MAX_ITEMS = 100
MAX_ITEMS = 1000
LOOP_ROOT = "loop"
"""The template root of the current iteration, inside a for_each's steps only."""


def _items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"must render to a list, not {shown(value)}.")
    return value


class ForEachConfig(StepConfig):
    items: Annotated[list[Any], BeforeValidator(_items)]
    max_items: int = DEFAULT_MAX_ITEMS
    # The steps as the definition holds them (they render per iteration, when they run).
    steps: list[dict[str, Any]]


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    items = config.get("items")
    if items is None:
        c.add(
            "items",
            "A for_each step needs 'items': a template that renders to a list (such as "
            "'{{payload.documents}}') or a list.",
        )
    elif not isinstance(items, list) and not (isinstance(items, str) and has_template(items)):
        c.add(
            "items",
            f"'items' must be a template that renders to a list or a list, not {shown(items)}.",
        )
    elif isinstance(items, list) and len(items) > MAX_ITEMS:
        c.add("items", f"'items' lists {len(items)} items; a for_each runs at most {MAX_ITEMS}.")
    if config.get("max_items") is not None:
        c.number(
            config["max_items"],
            "max_items",
            minimum=1,
            inclusive=True,
            maximum=MAX_ITEMS,
            whole=True,
        )
    steps = config.get("steps")
    if not isinstance(steps, list) or not steps:
        c.add("steps", f"A for_each step needs 'steps': a non-empty list, not {shown(steps)}.")


TYPE = StepType("for_each", ForEachConfig, check, nested=("steps",))
