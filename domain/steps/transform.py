"""`transform`: computes new values from the execution's data with JMESPath expressions.

    {"expressions": {"total": "sum(payload.items[].price)", "name": "contact.first_name"}}

Each expression reads the same data templates do (`payload`, `contact`, `input`, `execution`,
and each earlier step's output under its id) and its result becomes `{{<step id>.<name>}}`.
JMESPath (jmespath.org) was chosen because it is a specified query language with no side effects,
no I/O, no clock, no randomness and no way to run code: the same data and expression give the
same result on every worker and on every replay, so the step is evaluated inside the workflow
(replays compute it again, identically) and costs no activity, no database round trip.

Pure does not mean cheap: a short expression can double a value at each pipe
(`[@, @] | [@, @] | …`, `join('', [@, @])`), and a tree doubled 60 times never finishes. So the
evaluation runs under fixed limits, each counted in the same units on every run (never a wall
clock, which would make a replay differ): an expression is at most `MAX_EXPRESSION_CHARS` long
and a step has at most `MAX_EXPRESSIONS`; the data read is at most `MAX_INPUT_BYTES` of JSON;
every node the interpreter visits costs one unit plus the length of the list, object or text it
yields, and an evaluation may spend `MAX_WORK` units (every large value is paid for when it is
made, so work is bounded by the budget, not by what the expression asks); `to_string` and the
step's output are measured by a walk that stops at `MAX_OUTPUT_BYTES` (a value made of shared
parts is never walked whole). Going past a limit fails the step naming the expression and the
limit. Expressions are compiled when the definition is published: a syntax error is reported
naming the step and the field (`steps[2].config.expressions.total`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions
from jmespath import visitor as jmespath_visitor
from pydantic import BeforeValidator

from domain.steps.base import StepConfig, StepType
from domain.steps.checks import StepConfigChecker, shown
from domain.templates import has_template

MAX_EXPRESSIONS = 50
MAX_EXPRESSION_CHARS = 1_000
MAX_INPUT_BYTES = 1_000_000
MAX_OUTPUT_BYTES = 256_000
MAX_WORK = 2_000_000
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class TransformError(Exception):
    """An expression that cannot be evaluated on this data, or that went past a limit; the
    message says which expression and why, for the step's error."""


def _expressions(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError("must be an object of names to JMESPath expressions.")
    return {str(name): str(expression) for name, expression in value.items()}


class TransformConfig(StepConfig):
    expressions: Annotated[dict[str, str], BeforeValidator(_expressions)]


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    expressions = c.object(config, "expressions", required=True)
    if isinstance(config.get("expressions"), Mapping) and not expressions:
        c.add("expressions", "'expressions' is empty; name at least one value to compute.")
    if len(expressions) > MAX_EXPRESSIONS:
        c.add(
            "expressions",
            f"'expressions' has {len(expressions)} entries; a transform step computes at most "
            f"{MAX_EXPRESSIONS}.",
        )
    for name, expression in expressions.items():
        key = f"expressions.{name}"
        if not name or not set(name) <= NAME_CHARS:
            c.add(
                key,
                f"{name!r} cannot name a value: use letters, digits and '_' so that later "
                "templates can read it.",
            )
        problem = expression_problem(expression)
        if problem is not None:
            c.add(key, f"'{key}': {problem}")
            continue
        for root in sorted(roots(jmespath.compile(expression).parsed)):
            reference = _reference_problem(c, root)
            if reference is not None:
                c.add(key, f"'{key}' reads {root!r}, {reference}")


def expression_problem(expression: Any) -> str | None:
    """Why `expression` cannot be used, or None: the definition-time check of one expression."""
    if not isinstance(expression, str) or not expression.strip():
        return f"must be a JMESPath expression, not {shown(expression)}."
    if len(expression) > MAX_EXPRESSION_CHARS:
        return (
            f"the expression is {len(expression)} characters long; at most "
            f"{MAX_EXPRESSION_CHARS} are allowed."
        )
    if has_template(expression):
        return (
            "an expression reads the data itself (payload.x, contact.x, <step id>.x); "
            "it cannot hold a {{template}}."
        )
    try:
        jmespath.compile(expression)
    except jmespath_errors.JMESPathError as error:
        return f"{expression!r} is not a valid JMESPath expression ({_first_line(error)})."
    return None


DATA_ROOTS = ("contact", "payload", "input", "execution")


def roots(node: Mapping[str, Any]) -> set[str]:
    """The names an expression reads from the execution's data itself (`payload` in
    `sum(payload.items[].price)`), not those it reads inside a value it got (`price`)."""
    kind = node["type"]
    children: list[Any] = node.get("children") or []
    if kind == "field":
        return {str(node["value"])}
    if kind == "subexpression" and children and children[0]["type"] == "current":
        return roots(children[1]) if len(children) > 1 else set()
    if kind in (
        "subexpression",
        "index_expression",
        "projection",
        "value_projection",
        "filter_projection",
        "flatten",
        "pipe",
        "not_expression",
        "key_val_pair",
    ):
        return roots(children[0]) if children else set()
    if kind in (
        "or_expression",
        "and_expression",
        "comparator",
        "function_expression",
        "multi_select_list",
        "multi_select_dict",
    ):
        found: set[str] = set()
        for child in children:
            if isinstance(child, Mapping) and child.get("type") != "expref":
                found |= roots(child)
        return found
    return set()  # literal, current, identity, expref, index, slice: no name of the data


def _reference_problem(c: StepConfigChecker, root: str) -> str | None:
    """Why `root` cannot be read when this step runs, as the templates' check says it."""
    if root in DATA_ROOTS or root in c.extra_roots:
        return None
    source = c.known.get(root)
    if source is None:
        return f"which is neither {', '.join(DATA_ROOTS)} nor the id of a step."
    if root == c.step_id:
        return "this step's own output, which does not exist yet when it runs."
    if c.elsewhere(source):
        return "a step of another branch, which runs at the same time as this one."
    if source.run_index > c.run_index:
        return "a step that runs after this one, so its output does not exist yet."
    return None


def evaluate(expressions: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, Any]:
    """Every expression's value on `data`, by name; TransformError names the first that fails.

    `data` must be JSON (what templates read): it is measured as such first."""
    size = _json_size(data, MAX_INPUT_BYTES)
    if size is None:
        raise TransformError(
            f"the execution's data is larger than {MAX_INPUT_BYTES:,} bytes of JSON; "
            "a transform reads at most that much."
        )
    output: dict[str, Any] = {}
    for name, expression in expressions.items():
        interpreter = _BudgetedInterpreter()
        try:
            parsed = jmespath.compile(expression)
            value = interpreter.visit(parsed.parsed, dict(data))
        except _OverBudget as over:
            raise TransformError(f"'{name}' ({_quoted(expression)}) {over}") from None
        except jmespath_errors.JMESPathError as error:
            raise TransformError(
                f"'{name}' ({_quoted(expression)}) cannot be evaluated: {_first_line(error)}"
            ) from None
        output[name] = value
    if _json_size(output, MAX_OUTPUT_BYTES) is None:
        raise TransformError(
            f"the computed values are larger than {MAX_OUTPUT_BYTES:,} bytes of JSON."
        )
    return output


class _OverBudget(Exception):  # noqa: N818 - control flow out of the interpreter
    pass


class _Functions(jmespath_functions.Functions):
    """JMESPath's built-in functions, with `to_string` bounded like the output."""

    @jmespath_functions.signature({"types": []})
    def _func_to_string(self, arg: Any) -> str:
        if isinstance(arg, str):
            return arg
        if _json_size(arg, MAX_OUTPUT_BYTES) is None:
            raise _OverBudget(f"made a value larger than {MAX_OUTPUT_BYTES:,} bytes of JSON.")
        return json.dumps(arg, separators=(",", ":"))


class _BudgetedInterpreter(jmespath_visitor.TreeInterpreter):
    """The library's interpreter, charging every visit (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(jmespath_visitor.Options(custom_functions=_Functions()))
        self._spent = 0

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        self._spent += 1
        result = super().visit(node, *args, **kwargs)
        if isinstance(result, list | dict | str):
            self._spent += len(result)
        if self._spent > MAX_WORK:
            raise _OverBudget(
                f"needs more than {MAX_WORK:,} units of work (one per node visited and per "
                "item or character it makes); simplify it or transform less data."
            )
        return result


def _json_size(value: Any, limit: int) -> int | None:
    """The size of `value` as compact JSON, or None once it passes `limit` (the walk stops
    there, so a value built of shared parts costs at most `limit` to measure)."""
    total = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        children: list[Any] = []
        if isinstance(item, Mapping):
            total += 2 + len(item) + sum(len(str(key)) + 3 for key in item)
            children = list(item.values())
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            children = list(item)
        elif isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, float) and not math.isfinite(item):
            total += 4
        else:
            total += len(str(item))
        if total > limit:
            return None
        stack.extend(children)
    return total


def _quoted(expression: str, limit: int = 80) -> str:
    return repr(expression if len(expression) <= limit else expression[: limit - 1] + "…")


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


TYPE = StepType("transform", TransformConfig, check)
