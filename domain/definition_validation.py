"""Validation of workflow definition bodies (docs/contract.md, "Workflow definitions").

A definition is checked as a whole before anything is stored, so that an execution never meets a
step it cannot run: a jump to a missing step, a task that was never assigned, a template whose
data cannot exist. `validate_definition` returns every problem at once, each naming the step and
the path of the offending field; `parse_definition` turns a valid body into the frozen model with
the steps in run order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from domain.definition_model import (
    END,
    STEP_TYPES,
    TEMPLATE_ROOTS,
    Definition,
    StatusOption,
    Step,
)
from domain.errors import DefinitionInvalidError, InvalidValueError, Problem, TemplateSyntaxError
from domain.steps import step_type as registered_type
from domain.steps.checks import KnownStep, StepConfigChecker, shown
from domain.templates import DateExpression, has_template, parse_template
from domain.values import json_copy

TOP_LEVEL_KEYS = ("name", "description", "statuses", "steps")
STEP_KEYS = ("id", "type", "name", "config", "order", "next")
STATUS_KEYS = ("id", "label", "color")
STEP_ID = re.compile(r"[A-Za-z0-9_-]+")


def validate_definition(body: object) -> list[Problem]:
    """Every problem with `body`; an empty list means it is valid."""
    return _Validation(body).run()


def parse_definition(body: object) -> Definition:
    """The definition in `body`, or DefinitionInvalidError listing every problem."""
    problems = validate_definition(body)
    if problems:
        raise DefinitionInvalidError(problems)
    assert isinstance(body, Mapping)
    return _build(body)


class _Validation:
    def __init__(self, body: object) -> None:
        self.body = body
        self.problems: list[Problem] = []

    def add(self, field: str, message: str, step_id: str | None = None) -> None:
        self.problems.append(Problem(field, message, step_id))

    def run(self) -> list[Problem]:
        body = self.body
        if not isinstance(body, Mapping):
            self.add("body", f"A workflow definition must be a JSON object, not {shown(body)}.")
            return self.problems
        for key in body:
            if key not in TOP_LEVEL_KEYS:
                self.add(
                    str(key),
                    f"Unknown key {str(key)!r}; a definition has only {', '.join(TOP_LEVEL_KEYS)}.",
                )
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            self.add("name", f"The definition needs a non-blank 'name', not {shown(name)}.")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            self.add("description", f"'description' must be text, not {shown(description)}.")
        status_ids = self._statuses(body.get("statuses"))
        self._steps(body.get("steps"), status_ids)
        return self.problems

    # -- statuses ------------------------------------------------------------------------------

    def _statuses(self, statuses: Any) -> frozenset[str] | None:
        """The declared status ids, or None when the definition declares none."""
        if statuses is None:
            return None
        if not isinstance(statuses, list):
            self.add("statuses", f"'statuses' must be a list, not {shown(statuses)}.")
            return None
        seen: set[str] = set()
        for index, status in enumerate(statuses):
            path = f"statuses[{index}]"
            if not isinstance(status, Mapping):
                self.add(
                    path, f"Each status must be an object with id and label, not {shown(status)}."
                )
                continue
            for key in status:
                if key not in STATUS_KEYS:
                    self.add(
                        f"{path}.{key}",
                        f"Unknown key {str(key)!r}; a status has only {', '.join(STATUS_KEYS)}.",
                    )
            status_id = status.get("id")
            if not isinstance(status_id, str) or not status_id.strip():
                self.add(f"{path}.id", f"A status needs a non-blank 'id', not {shown(status_id)}.")
            elif status_id in seen:
                self.add(f"{path}.id", f"The status id {status_id!r} is used more than once.")
            else:
                seen.add(status_id)
            label = status.get("label")
            if not isinstance(label, str) or not label.strip():
                self.add(
                    f"{path}.label", f"A status needs a non-blank 'label', not {shown(label)}."
                )
            color = status.get("color")
            if color is not None and not isinstance(color, str):
                self.add(f"{path}.color", f"'color' must be text, not {shown(color)}.")
        return frozenset(seen)

    # -- steps ---------------------------------------------------------------------------------

    def _steps(self, steps: Any, status_ids: frozenset[str] | None) -> None:
        if not isinstance(steps, list) or not steps:
            self.add("steps", "A definition needs 'steps': a non-empty list of steps.")
            return
        valid_ids: dict[int, str] = {}
        named: dict[int, str] = {}
        seen: set[str] = set()
        for index, step in enumerate(steps):
            step_id = self._step_shape(index, step)
            if step_id is None:
                continue
            named[index] = step_id
            if step_id in seen:
                self.add(
                    f"steps[{index}].id",
                    f"The step id {step_id!r} is used more than once.",
                    step_id,
                )
            else:
                seen.add(step_id)
                valid_ids[index] = step_id
        run_order = self._run_order(steps, named)
        run_index = {index: position for position, index in enumerate(run_order)}
        known = {
            step_id: KnownStep(type=_type_of(steps[index]), run_index=run_index[index])
            for index, step_id in valid_ids.items()
        }
        self._trigger_placement(steps, run_order, named)
        for index, step in enumerate(steps):
            if not isinstance(step, Mapping):
                continue
            step_id = named.get(index)
            self._next(index, step, step_id, known)
            config = step.get("config")
            if not isinstance(config, Mapping):
                continue
            step_type = _type_of(step)
            checker = StepConfigChecker(
                step_id=step_id,
                step_type=step_type,
                run_index=run_index[index],
                path=f"steps[{index}].config",
                known=known,
                status_ids=status_ids,
                problems=self.problems,
            )
            if step_type in STEP_TYPES:
                registered_type(step_type).check(checker, config)
            self._templates(config, f"steps[{index}].config", step_id, run_index[index], known)

    def _step_shape(self, index: int, step: Any) -> str | None:
        """Check the step's own keys; return its id when usable."""
        path = f"steps[{index}]"
        if not isinstance(step, Mapping):
            self.add(path, f"Each step must be an object, not {shown(step)}.")
            return None
        raw_id = step.get("id")
        step_id = raw_id if isinstance(raw_id, str) and STEP_ID.fullmatch(raw_id) else None
        if step_id in (END, *TEMPLATE_ROOTS):
            self.add(f"{path}.id", f"{step_id!r} is reserved and cannot be a step id.", step_id)
            step_id = None
        elif step_id is None:
            self.add(
                f"{path}.id",
                f"A step needs an 'id' made of letters, digits, '_' or '-', not {shown(raw_id)}.",
            )
        for key in step:
            if key not in STEP_KEYS:
                self.add(
                    f"{path}.{key}",
                    f"Unknown key {str(key)!r}; a step has only {', '.join(STEP_KEYS)}.",
                    step_id,
                )
        step_type = step.get("type")
        if step_type not in STEP_TYPES:
            self.add(
                f"{path}.type",
                f"Unknown step type {shown(step_type)}; use one of {', '.join(STEP_TYPES)}.",
                step_id,
            )
        name = step.get("name")
        if not isinstance(name, str) or not name.strip():
            self.add(
                f"{path}.name", f"A step needs a non-blank 'name', not {shown(name)}.", step_id
            )
        config = step.get("config")
        if not isinstance(config, Mapping):
            self.add(
                f"{path}.config", f"A step needs a 'config' object, not {shown(config)}.", step_id
            )
        else:
            try:
                json_copy(config, field=f"{path}.config")
            except InvalidValueError as error:
                self.add(error.field, error.message, step_id)
        order = step.get("order")
        if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
            self.add(
                f"{path}.order", f"'order' must be a whole number, not {shown(order)}.", step_id
            )
        return step_id

    def _run_order(self, steps: list[Any], ids: Mapping[int, str]) -> list[int]:
        """Body indexes in run order: by `order` when every step has one, else as listed."""
        orders: dict[int, Any] = {
            index: step.get("order")
            for index, step in enumerate(steps)
            if isinstance(step, Mapping) and step.get("order") is not None
        }
        listed = list(range(len(steps)))
        if not orders:
            return listed
        usable = True
        seen: dict[int, int] = {}
        for index, step in enumerate(steps):
            if not isinstance(step, Mapping):
                usable = False
                continue
            order = orders.get(index)
            if order is None:
                self.add(
                    f"steps[{index}].order",
                    "Once any step has an 'order', every step needs one.",
                    ids.get(index),
                )
                usable = False
            elif isinstance(order, bool) or not isinstance(order, int):
                usable = False
            elif order in seen:
                self.add(
                    f"steps[{index}].order",
                    f"The order {order} is also used by "
                    f"steps[{seen[order]}]; orders must be unique.",
                    ids.get(index),
                )
                usable = False
            else:
                seen[order] = index
        if not usable:
            return listed
        return sorted(listed, key=lambda index: int(orders[index]))

    def _trigger_placement(
        self, steps: list[Any], run_order: list[int], ids: Mapping[int, str]
    ) -> None:
        triggers = [index for index in run_order if _type_of(steps[index]) == "trigger"]
        if not triggers:
            self.add("steps", "A definition needs exactly one trigger step; it has none.")
            return
        first = triggers[0]
        for extra in triggers[1:]:
            self.add(
                f"steps[{extra}].type",
                f"A definition has exactly one trigger step; steps[{first}] is already one.",
                ids.get(extra),
            )
        if run_order[0] != first:
            self.add(
                f"steps[{first}]",
                f"The trigger step must run first, but steps[{run_order[0]}] runs before it.",
                ids.get(first),
            )

    def _next(
        self,
        index: int,
        step: Mapping[str, Any],
        step_id: str | None,
        known: Mapping[str, KnownStep],
    ) -> None:
        target = step.get("next")
        if target is None:
            return
        path = f"steps[{index}].next"
        if not isinstance(target, str) or not target:
            self.add(path, f"'next' must be a step id or '{END}', not {shown(target)}.", step_id)
        elif target != END and target not in known:
            self.add(path, f"'next' names the step {target!r}, but no step has that id.", step_id)
        elif target != END and known[target].type == "trigger":
            self.add(
                path,
                f"'next' names the trigger step {target!r}; a run cannot jump back to it.",
                step_id,
            )

    def _templates(
        self,
        config: Mapping[str, Any],
        path: str,
        step_id: str | None,
        position: int,
        known: Mapping[str, KnownStep],
    ) -> None:
        """Every template must parse, and every root must exist whenever this step runs."""
        for where, text in _strings(config, path):
            if not has_template(text):
                continue
            try:
                template = parse_template(text)
            except TemplateSyntaxError as error:
                self.add(where, error.message, step_id)
                continue
            for expression in template.expressions:
                if isinstance(expression, DateExpression):
                    continue
                root = expression.root
                shown = f"{{{{{expression.source}}}}}"
                if root in TEMPLATE_ROOTS:
                    continue
                source = known.get(root)
                if source is None:
                    self.add(
                        where,
                        f"The template {shown} refers to {root!r}, which is neither "
                        f"{', '.join(TEMPLATE_ROOTS)} nor the id of a step.",
                        step_id,
                    )
                elif root == step_id:
                    self.add(
                        where,
                        f"The template {shown} refers to this step's own output, "
                        "which does not exist yet when it runs.",
                        step_id,
                    )
                elif source.run_index > position:
                    self.add(
                        where,
                        f"The template {shown} refers to the step {root!r}, which "
                        "runs after this one, so its output does not exist yet.",
                        step_id,
                    )


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _type_of(step: Any) -> str:
    step_type = step.get("type") if isinstance(step, Mapping) else None
    return step_type if isinstance(step_type, str) else ""


def _build(body: Mapping[str, Any]) -> Definition:
    steps = [
        Step(
            id=step["id"],
            type=step["type"],
            name=step["name"].strip(),
            config=json_copy(step["config"], field="config"),
            order=step.get("order"),
            next=step.get("next"),
        )
        for step in body["steps"]
    ]
    if any(step.order is not None for step in steps):
        steps.sort(key=lambda step: step.order or 0)
    description = body.get("description")
    return Definition(
        name=body["name"].strip(),
        description=description,
        statuses=tuple(
            StatusOption(id=status["id"], label=status["label"], color=status.get("color"))
            for status in body.get("statuses") or ()
        ),
        steps=tuple(steps),
    )
