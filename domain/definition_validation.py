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
from dataclasses import dataclass
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
from domain.steps.checks import KnownStep, StepConfigChecker, outside, shown
from domain.steps.for_each import LOOP_ROOT
from domain.templates import DateExpression, has_template, parse_template
from domain.values import json_copy

TOP_LEVEL_KEYS = ("name", "description", "statuses", "steps")
STEP_KEYS = ("id", "type", "name", "config", "order", "next", "compensate", "retry", "on_failure")
# A step inside a container (a parallel step's branch) runs in list order: it has no `order`.
NESTED_STEP_KEYS = tuple(key for key in STEP_KEYS if key != "order")
# Step types that hold steps of their own, and the types that cannot run inside one: a second
# trigger, or a container inside a container (one level of nesting keeps the timeline and the
# engine's state readable).
CONTAINER_TYPES = ("parallel", "for_each")
NOT_NESTED = ("trigger", *CONTAINER_TYPES)
# Run indexes leave room between two steps of the definition for the steps inside a container:
# a step of a branch runs after everything before its container and before everything after it.
RUN_SPAN = 1000
COMPENSATION_KEYS = ("id", "type", "name", "config", "retry")
# `retry`: for the step types whose outbound call fails the step when it fails for good (the
# others record in the database, which retries on its own; send_email records an undelivered
# email instead of failing).
RETRYABLE_TYPES = ("http_request", "llm")
RETRY_KEYS = ("attempts", "backoff_seconds", "backoff_coefficient", "max_backoff_seconds")
MAX_RETRY_ATTEMPTS = 20
ON_FAILURE_WORDS = ("fail", "continue", "park")
# Step types that cannot undo anything: a compensation acts at once, it never waits (the
# execution is ending) nor jumps (it is not part of the run order).
NOT_COMPENSATIONS = (
    "trigger",
    "wait_for_task",
    "wait_for_signal",
    "delay",
    "reminder",
    "condition",
    # Containers run sequences of steps (which may wait); an undo is one step that acts.
    "parallel",
    "for_each",
)
STATUS_KEYS = ("id", "label", "color")
STEP_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class _Nested:
    """A step inside a container: where it is in the body, and where it runs."""

    path: str
    step: Mapping[str, Any]
    step_id: str | None
    run_index: int
    scope: str


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
        self._loops: set[str] = set()  # the scopes of for_each steps (where `loop` is known)

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
            step_id = self._step_shape(f"steps[{index}]", step)
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
        run_index = {index: position * RUN_SPAN for position, index in enumerate(run_order)}
        known = {
            step_id: KnownStep(type=_type_of(steps[index]), run_index=run_index[index])
            for index, step_id in valid_ids.items()
        }
        inner = self._nested_shapes(steps, named, run_index, seen, known)
        if self._loops:
            places: list[tuple[str, str | None]] = [(f"steps[{i}]", s) for i, s in named.items()]
            places += [(nested.path, nested.step_id) for nested in inner]
            for path, step_id in places:
                if step_id == LOOP_ROOT:
                    self.add(
                        f"{path}.id",
                        f"{LOOP_ROOT!r} cannot be a step id in a definition with a for_each "
                        f"step: {{{{{LOOP_ROOT}.…}}}} reads the loop's current item there.",
                        step_id,
                    )
        self._trigger_placement(steps, run_order, named)
        for index, step in enumerate(steps):
            if not isinstance(step, Mapping):
                continue
            step_id = named.get(index)
            self._step_rules(
                f"steps[{index}]", step, step_id, run_index[index], None, known, status_ids
            )
        for nested in inner:
            self._step_rules(
                nested.path,
                nested.step,
                nested.step_id,
                nested.run_index,
                nested.scope,
                known,
                status_ids,
            )
        taken = set(seen)
        for index, step in enumerate(steps):
            if isinstance(step, Mapping) and step.get("compensate") is not None:
                self._compensations(
                    f"steps[{index}]",
                    step,
                    named.get(index),
                    run_index[index],
                    known,
                    status_ids,
                    taken,
                )
        for nested in inner:
            if nested.step.get("compensate") is not None:
                self._compensations(
                    nested.path,
                    nested.step,
                    nested.step_id,
                    nested.run_index,
                    known,
                    status_ids,
                    taken,
                    scope=nested.scope,
                )

    def _step_rules(
        self,
        path: str,
        step: Mapping[str, Any],
        step_id: str | None,
        position: int,
        scope: str | None,
        known: Mapping[str, KnownStep],
        status_ids: frozenset[str] | None,
    ) -> None:
        """Where the step may go next, its error policy, its config, its templates."""
        self._next(path, step, step_id, known, scope)
        self._error_policy(path, step, step_id, known, scope)
        config = step.get("config")
        if not isinstance(config, Mapping):
            return
        step_type = _type_of(step)
        checker = StepConfigChecker(
            step_id=step_id,
            step_type=step_type,
            run_index=position,
            path=f"{path}.config",
            known=known,
            status_ids=status_ids,
            problems=self.problems,
            scope=scope,
            extra_roots=frozenset({LOOP_ROOT}) if scope in self._loops else frozenset(),
        )
        own = config
        if step_type in STEP_TYPES:
            registered = registered_type(step_type)
            registered.check(checker, config)
            # The steps a container holds are checked as steps of their own.
            own = {key: value for key, value in config.items() if key not in registered.nested}
        self._templates(own, f"{path}.config", step_id, position, known, scope=scope)

    def _nested_shapes(
        self,
        steps: list[Any],
        named: Mapping[int, str],
        run_index: Mapping[int, int],
        seen: set[str],
        known: dict[str, KnownStep],
    ) -> list[_Nested]:
        """The steps inside containers (a parallel step's branches, a for_each's steps): each
        one's own keys, its id (unique in the whole definition), its type (no trigger, no
        container), and what the others may rely on (added to `known`, in its sequence's
        scope)."""
        found: list[_Nested] = []
        for index, step in enumerate(steps):
            if not isinstance(step, Mapping) or _type_of(step) not in CONTAINER_TYPES:
                continue
            owner = named.get(index) or f"steps[{index}]"
            for prefix, scope, sequence in self._sequences(index, step, owner):
                for place, item in enumerate(sequence):
                    path = f"{prefix}[{place}]"
                    step_id = self._step_shape(path, item, NESTED_STEP_KEYS)
                    if not isinstance(item, Mapping):
                        continue
                    item_type = _type_of(item)
                    if item_type in NOT_NESTED:
                        self.add(
                            f"{path}.type",
                            f"A {item_type} step cannot run inside a {_type_of(step)} step; "
                            f"it holds steps of the other types.",
                            step_id,
                        )
                    if scope in self._loops and item.get("compensate") is not None:
                        self.add(
                            f"{path}.compensate",
                            "A step inside a for_each cannot have 'compensate' (each iteration "
                            "would undo with the last iteration's output); give the for_each "
                            "step its own 'compensate'.",
                            step_id,
                        )
                    position = run_index[index] + place + 1
                    if step_id is not None:
                        if step_id in seen:
                            self.add(
                                f"{path}.id",
                                f"The step id {step_id!r} is used more than once.",
                                step_id,
                            )
                        else:
                            seen.add(step_id)
                            known[step_id] = KnownStep(
                                type=item_type, run_index=position, scope=scope
                            )
                    found.append(_Nested(path, item, step_id, position, scope))
        return found

    def _sequences(
        self, index: int, step: Mapping[str, Any], owner: str
    ) -> list[tuple[str, str, list[Any]]]:
        """A container's sequences of steps: (where they are in the body, their scope, the
        steps); a for_each's scope is its own id, a branch's `<parallel id>/<name>`."""
        config = step.get("config")
        if not isinstance(config, Mapping):
            return []
        if _type_of(step) == "for_each":
            inner = config.get("steps")
            if not isinstance(inner, list):
                return []
            self._loops.add(owner)
            return [(f"steps[{index}].config.steps", owner, inner)]
        branches = config.get("branches")
        if not isinstance(branches, list):
            return []
        found: list[tuple[str, str, list[Any]]] = []
        scopes: set[str] = set()
        for number, branch in enumerate(branches):
            if not isinstance(branch, Mapping) or not isinstance(branch.get("steps"), list):
                continue
            name = branch.get("name")
            # Its own scope even when its name is missing or taken (reported elsewhere).
            scope = f"{owner}/{name}" if isinstance(name, str) else ""
            if not scope or scope in scopes:
                scope = f"{owner}/branches[{number}]"
            scopes.add(scope)
            found.append(
                (f"steps[{index}].config.branches[{number}].steps", scope, branch["steps"])
            )
        return found

    def _compensations(
        self,
        step_path: str,
        step: Mapping[str, Any],
        owner: str | None,
        position: int,
        known: Mapping[str, KnownStep],
        status_ids: frozenset[str] | None,
        taken: set[str],
        *,
        scope: str | None = None,
    ) -> None:
        """`compensate`: one step object or a non-empty list of them, each checked as a step of
        its type that runs right after its owner (it may read the owner's output)."""
        path = f"{step_path}.compensate"
        raw = step["compensate"]
        if _type_of(step) == "trigger":
            self.add(
                path,
                "The trigger step cannot have 'compensate': the execution begins with it, so "
                "there is nothing of it to undo.",
                owner,
            )
            return
        if isinstance(raw, Mapping):
            items: list[tuple[str, Any]] = [(path, raw)]
        elif isinstance(raw, list) and raw:
            items = [(f"{path}[{number}]", item) for number, item in enumerate(raw)]
        else:
            self.add(
                path,
                f"'compensate' must be a step object or a non-empty list of step objects, "
                f"not {shown(raw)}.",
                owner,
            )
            return
        for number, (where, item) in enumerate(items):
            self._compensation(
                where,
                item,
                compensation_id(owner or "step", number),
                owner,
                position,
                known,
                status_ids,
                taken,
                scope,
            )

    def _compensation(
        self,
        where: str,
        item: Any,
        default_id: str,
        owner: str | None,
        position: int,
        known: Mapping[str, KnownStep],
        status_ids: frozenset[str] | None,
        taken: set[str],
        scope: str | None = None,
    ) -> None:
        if not isinstance(item, Mapping):
            self.add(
                where,
                f"A compensation must be a step object with type and config, not {shown(item)}.",
                owner,
            )
            return
        for key in item:
            if key not in COMPENSATION_KEYS:
                self.add(
                    f"{where}.{key}",
                    f"Unknown key {str(key)!r}; a compensation step has only "
                    f"{', '.join(COMPENSATION_KEYS)}.",
                    owner,
                )
        raw_id = item.get("id")
        if raw_id is not None and (
            not isinstance(raw_id, str)
            or not STEP_ID.fullmatch(raw_id)
            or raw_id in (END, *TEMPLATE_ROOTS)
        ):
            self.add(
                f"{where}.id",
                f"A compensation's 'id' must be made of letters, digits, '_' or '-' and not be "
                f"reserved, not {shown(raw_id)}.",
                owner,
            )
        else:
            step_id = default_id if raw_id is None else raw_id
            if step_id in taken:
                unnamed = "" if raw_id is not None else " (the default for this compensation)"
                self.add(
                    f"{where}.id",
                    f"The step id {step_id!r}{unnamed} is used more than once; "
                    "give the compensation an 'id' of its own.",
                    owner,
                )
            taken.add(step_id)
        step_type = item.get("type")
        if step_type not in STEP_TYPES:
            self.add(
                f"{where}.type",
                f"Unknown step type {shown(step_type)}; use one of {', '.join(STEP_TYPES)}.",
                owner,
            )
        elif step_type in NOT_COMPENSATIONS:
            usable = [name for name in STEP_TYPES if name not in NOT_COMPENSATIONS]
            self.add(
                f"{where}.type",
                f"A {step_type} step cannot compensate: a compensation acts at once, without "
                f"waiting or jumping; use one of {', '.join(usable)}.",
                owner,
            )
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            self.add(f"{where}.name", f"'name' must be non-blank text, not {shown(name)}.", owner)
        if item.get("retry") is not None:
            self._retry(f"{where}.retry", item["retry"], step_type, item.get("config"), owner)
        config = item.get("config")
        if not isinstance(config, Mapping):
            self.add(
                f"{where}.config",
                f"A compensation needs a 'config' object, not {shown(config)}.",
                owner,
            )
            return
        try:
            json_copy(config, field=f"{where}.config")
        except InvalidValueError as error:
            self.add(error.field, error.message, owner)
            return
        if (
            isinstance(step_type, str)
            and step_type in STEP_TYPES
            and step_type not in NOT_COMPENSATIONS
        ):
            checker = StepConfigChecker(
                step_id=owner,
                step_type=step_type,
                # Runs after its owner: it may use the owner's task, as a later step would.
                run_index=position + 1,
                path=f"{where}.config",
                known=known,
                status_ids=status_ids,
                problems=self.problems,
                scope=scope,
            )
            registered_type(step_type).check(checker, config)
        self._templates(
            config, f"{where}.config", None, position, known, report_as=owner, scope=scope
        )

    def _step_shape(self, path: str, step: Any, keys: tuple[str, ...] = STEP_KEYS) -> str | None:
        """Check the step's own keys; return its id when usable."""
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
            if key not in keys:
                where = "a step" if keys == STEP_KEYS else "a step inside a branch"
                self.add(
                    f"{path}.{key}",
                    f"Unknown key {str(key)!r}; {where} has only {', '.join(keys)}.",
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
        step_path: str,
        step: Mapping[str, Any],
        step_id: str | None,
        known: Mapping[str, KnownStep],
        scope: str | None = None,
    ) -> None:
        target = step.get("next")
        if target is None:
            return
        path = f"{step_path}.next"
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
        elif target != END and known[target].scope != scope:
            self.add(path, f"'next' names the step {target!r}, {outside(scope)}.", step_id)

    # -- error policy --------------------------------------------------------------------------

    def _error_policy(
        self,
        path: str,
        step: Mapping[str, Any],
        step_id: str | None,
        known: Mapping[str, KnownStep],
        scope: str | None = None,
    ) -> None:
        step_type = step.get("type")
        if step.get("retry") is not None:
            self._retry(f"{path}.retry", step["retry"], step_type, step.get("config"), step_id)
        target = step.get("on_failure")
        if target is None:
            return
        where = f"{path}.on_failure"
        if step_type == "trigger":
            self.add(where, "The trigger step cannot have 'on_failure'.", step_id)
        elif not isinstance(target, str) or not target:
            self.add(
                where,
                f"'on_failure' must be one of {', '.join(ON_FAILURE_WORDS)}, a step id or "
                f"'{END}', not {shown(target)}.",
                step_id,
            )
        elif target == "park" and scope is not None:
            self.add(
                where,
                "'on_failure: park' is not available inside a parallel or for_each step (an "
                "admin's wait would hold the whole container); use fail, continue, a step id "
                "of the same sequence, or end.",
                step_id,
            )
        elif target in ON_FAILURE_WORDS or target == END:
            return
        elif target not in known:
            self.add(
                where,
                f"'on_failure' names the step {target!r}, but no step has that id (or use one "
                f"of {', '.join(ON_FAILURE_WORDS)}).",
                step_id,
            )
        elif known[target].type == "trigger":
            self.add(
                where,
                f"'on_failure' names the trigger step {target!r}; a run cannot jump back to it.",
                step_id,
            )
        elif known[target].scope != scope:
            self.add(where, f"'on_failure' names the step {target!r}, {outside(scope)}.", step_id)
        elif target == step_id:
            self.add(
                where,
                "'on_failure' names this step itself; use 'retry' to run its call again, or "
                "'park' to let an admin retry it.",
                step_id,
            )

    def _retry(
        self, path: str, retry: Any, step_type: Any, config: Any, step_id: str | None
    ) -> None:
        if step_type in STEP_TYPES and step_type not in RETRYABLE_TYPES:
            self.add(
                path,
                f"'retry' applies to steps whose outbound call fails the step "
                f"({', '.join(RETRYABLE_TYPES)}); a {step_type} step's recording retries on "
                "its own.",
                step_id,
            )
            return
        if not isinstance(retry, Mapping):
            self.add(
                path,
                f"'retry' must be an object with {', '.join(RETRY_KEYS)} ('attempts' "
                f"required), not {shown(retry)}.",
                step_id,
            )
            return
        for key in retry:
            if key not in RETRY_KEYS:
                self.add(
                    f"{path}.{key}",
                    f"Unknown key {str(key)!r}; 'retry' has only {', '.join(RETRY_KEYS)}.",
                    step_id,
                )
        attempts = retry.get("attempts")
        if (
            isinstance(attempts, bool)
            or not isinstance(attempts, int)
            or not 1 <= attempts <= MAX_RETRY_ATTEMPTS
        ):
            self.add(
                f"{path}.attempts",
                f"'attempts' (every try, the first included) must be a whole number from 1 to "
                f"{MAX_RETRY_ATTEMPTS}, not {shown(attempts)}.",
                step_id,
            )
        limits = {
            "backoff_seconds": (0.0, 3600.0),
            "backoff_coefficient": (1.0, 10.0),
            "max_backoff_seconds": (0.0, 86400.0),
        }
        for key, (low, high) in limits.items():
            value = retry.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.add(f"{path}.{key}", f"'{key}' must be a number, not {shown(value)}.", step_id)
            elif not (low < value <= high if low == 0.0 else low <= value <= high):
                bound = f"more than {low:g}" if low == 0.0 else f"at least {low:g}"
                self.add(
                    f"{path}.{key}",
                    f"'{key}' must be {bound} and at most {high:g}, not {value!r}.",
                    step_id,
                )
        backoff, most = retry.get("backoff_seconds"), retry.get("max_backoff_seconds")
        if (
            isinstance(backoff, int | float)
            and isinstance(most, int | float)
            and not isinstance(backoff, bool)
            and not isinstance(most, bool)
            and most < backoff
        ):
            self.add(
                f"{path}.max_backoff_seconds",
                f"'max_backoff_seconds' ({most!r}) is less than 'backoff_seconds' ({backoff!r}).",
                step_id,
            )
        if (
            step_type == "http_request"
            and isinstance(config, Mapping)
            and ("retries" in config or "backoff_seconds" in config)
        ):
            self.add(
                path,
                "Give either the step's 'retry' or its config's 'retries'/'backoff_seconds', "
                "not both.",
                step_id,
            )

    def _templates(
        self,
        config: Mapping[str, Any],
        path: str,
        step_id: str | None,
        position: int,
        known: Mapping[str, KnownStep],
        *,
        report_as: str | None = None,
        scope: str | None = None,
    ) -> None:
        """Every template must parse, and every root must exist whenever this step runs.

        A compensation passes no `step_id` (it may read its owner's output, which exists when it
        runs) and reports its problems as its owner's (`report_as`)."""
        reported: str | None = step_id
        if report_as is not None:
            step_id, reported = None, report_as
        for where, text in _strings(config, path):
            if not has_template(text):
                continue
            try:
                template = parse_template(text)
            except TemplateSyntaxError as error:
                self.add(where, error.message, reported)
                continue
            for expression in template.expressions:
                if isinstance(expression, DateExpression):
                    continue
                root = expression.root
                shown = f"{{{{{expression.source}}}}}"
                if root in TEMPLATE_ROOTS or (root == LOOP_ROOT and scope in self._loops):
                    continue
                if root == LOOP_ROOT and root not in known:
                    self.add(
                        where,
                        f"The template {shown} reads the current item of a loop, which exists "
                        "only in the steps of a for_each step.",
                        reported,
                    )
                    continue
                source = known.get(root)
                if source is None:
                    self.add(
                        where,
                        f"The template {shown} refers to {root!r}, which is neither "
                        f"{', '.join(TEMPLATE_ROOTS)} nor the id of a step.",
                        reported,
                    )
                elif root == step_id:
                    self.add(
                        where,
                        f"The template {shown} refers to this step's own output, "
                        "which does not exist yet when it runs.",
                        reported,
                    )
                elif source.scope is not None and scope is not None and source.scope != scope:
                    self.add(
                        where,
                        f"The template {shown} refers to the step {root!r} of another branch, "
                        "which runs at the same time as this one.",
                        reported,
                    )
                elif source.run_index > position:
                    self.add(
                        where,
                        f"The template {shown} refers to the step {root!r}, which "
                        "runs after this one, so its output does not exist yet.",
                        reported,
                    )


def compensation_id(owner: str, number: int) -> str:
    """The id of an owner's compensation that names none: `<owner>-undo`, then `-undo-2`…"""
    return f"{owner}-undo" if number == 0 else f"{owner}-undo-{number + 1}"


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


def _compensations_of(step: Mapping[str, Any]) -> tuple[Step, ...]:
    """The owner's compensations, normalised: a list, each with its id and name."""
    raw = step.get("compensate")
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, Mapping) else list(raw)
    name = step["name"].strip()
    return tuple(
        Step(
            id=item.get("id") or compensation_id(step["id"], number),
            type=item["type"],
            name=(item.get("name") or f"Undo {name}").strip(),
            config=json_copy(item["config"], field="config"),
            retry=None if item.get("retry") is None else json_copy(item["retry"], field="retry"),
        )
        for number, item in enumerate(items)
    )


def _step_of(step: Mapping[str, Any]) -> Step:
    return Step(
        id=step["id"],
        type=step["type"],
        name=step["name"].strip(),
        config=_config_of(step),
        order=step.get("order"),
        next=step.get("next"),
        compensate=_compensations_of(step),
        retry=None if step.get("retry") is None else json_copy(step["retry"], field="retry"),
        on_failure=step.get("on_failure"),
    )


def _config_of(step: Mapping[str, Any]) -> dict[str, Any]:
    """The step's config; a container's steps normalised as the definition's own are."""
    config: dict[str, Any] = json_copy(step["config"], field="config")
    if step["type"] == "for_each":
        config["steps"] = [_step_of(each).to_dict() for each in config["steps"]]
    elif step["type"] in CONTAINER_TYPES:
        config["branches"] = [
            {**branch, "steps": [_step_of(each).to_dict() for each in branch["steps"]]}
            for branch in config["branches"]
        ]
    return config


def _build(body: Mapping[str, Any]) -> Definition:
    steps = [_step_of(step) for step in body["steps"]]
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
