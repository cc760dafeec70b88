"""The definition-time checks every step type's `check` builds on.

A check reports problems rather than raising, so that one submission yields every problem at
once, each naming the step and the path of its field. Values that are templates cannot be
checked until run time (then the step's typed config model parses the rendered value); the
checks skip them here and definition_validation.py checks that their references resolve by
construction. Unknown config keys are tolerated, because builder UIs keep their own notes in
configs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.errors import Problem
from domain.templates import has_template

END = "end"
"""The jump target that finishes an execution (`then_goto`, `default`, `next`, `on_timeout`)."""

TASK_PRIORITIES = ("low", "medium", "high", "urgent")
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "status")
ASSIGNEE = re.compile(r"(user|role):\S+")


@dataclass(frozen=True)
class KnownStep:
    """What a step's neighbours may rely on: its type and where it runs."""

    type: str
    run_index: int
    # The sequence the step belongs to: None for the definition's own steps, else the
    # container's (`<parallel id>/<branch name>`). A run jumps only within its sequence, and a
    # branch's steps cannot read another branch's, which runs at the same time.
    scope: str | None = None


@dataclass
class StepConfigChecker:
    """Checks one step's config; `path` is where the config sits in the body."""

    step_id: str | None
    step_type: str
    run_index: int
    path: str
    known: Mapping[str, KnownStep]
    status_ids: frozenset[str] | None
    problems: list[Problem]
    scope: str | None = None
    # Data roots this step may read besides the built-in ones and the steps (`loop` inside a
    # for_each's steps).
    extra_roots: frozenset[str] = frozenset()

    def elsewhere(self, source: KnownStep) -> bool:
        """Whether `source` runs in another branch than this step, at the same time, so that
        this step can neither read its output nor use its task."""
        return source.scope is not None and self.scope is not None and source.scope != self.scope

    # -- reporting -------------------------------------------------------------------------

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.path}.{key}", message, self.step_id))

    # -- reusable value checks; each returns the value when it is usable --------------------

    def required(self, config: Mapping[str, Any], key: str) -> bool:
        if config.get(key) is None:
            self.add(key, f"A {self.step_type} step needs '{key}'.")
            return False
        return True

    def text(self, config: Mapping[str, Any], key: str, *, required: bool) -> str | None:
        if key not in config or config[key] is None:
            if required:
                self.add(key, f"A {self.step_type} step needs '{key}'.")
            return None
        value = config[key]
        if not isinstance(value, str):
            self.add(key, f"'{key}' must be text, not {shown(value)}.")
            return None
        if not value.strip():
            self.add(key, f"'{key}' cannot be blank.")
            return None
        return value

    def number(
        self,
        value: Any,
        key: str,
        *,
        minimum: float = 0,
        inclusive: bool = False,
        maximum: float | None = None,
        whole: bool = False,
    ) -> float | None:
        kind = "whole number" if whole else "number"
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or (whole and not isinstance(value, int)):
            self.add(key, f"'{key}' must be a {kind}, not {shown(value)}.")
            return None
        below = value < minimum if inclusive else value <= minimum
        if below or (maximum is not None and value > maximum):
            bound = "at least" if inclusive else "greater than"
            limit = f"{bound} {_num(minimum)}"
            if maximum is not None:
                limit += f" and at most {_num(maximum)}"
            self.add(key, f"'{key}' must be {limit}; {shown(value)} is not.")
            return None
        return float(value)

    def optional_number(self, config: Mapping[str, Any], key: str, **limits: Any) -> None:
        if config.get(key) is not None:
            self.number(config[key], key, **limits)

    def object(self, config: Mapping[str, Any], key: str, *, required: bool) -> Mapping[str, Any]:
        value = config.get(key)
        if value is None:
            if required:
                self.add(key, f"A {self.step_type} step needs '{key}' (an object).")
            return {}
        if not isinstance(value, Mapping):
            self.add(key, f"'{key}' must be an object, not {shown(value)}.")
            return {}
        return value

    def jump_target(self, value: Any, key: str, *, actions: tuple[str, ...] = ()) -> None:
        """A step id to continue at, END, or one of `actions`."""
        choices = either(*(repr(action) for action in actions), "a step id", repr(END))
        if not isinstance(value, str) or not value.strip():
            self.add(key, f"'{key}' must be {choices}; {shown(value)} is not.")
            return
        if value in actions or value == END:
            return
        target = self.known.get(value)
        if target is None:
            self.add(
                key,
                f"'{key}' names the step '{value}', but no step has that id (expected {choices}).",
            )
        elif target.type == "trigger":
            self.add(
                key, f"'{key}' names the trigger step '{value}'; a run cannot jump back to it."
            )
        elif target.scope != self.scope:
            self.add(key, f"'{key}' names the step '{value}', {outside(self.scope)}.")

    def task_reference(self, config: Mapping[str, Any], key: str, *, required: bool) -> None:
        value = config.get(key)
        if value is None:
            if required:
                self.add(
                    key,
                    f"A {self.step_type} step needs '{key}': the assign_task step "
                    "whose task it works on.",
                )
            return
        if not isinstance(value, str) or not value.strip():
            self.add(key, f"'{key}' must be the id of an assign_task step, not {shown(value)}.")
            return
        target = self.known.get(value)
        if target is None:
            self.add(key, f"'{key}' names the step '{value}', but no step has that id.")
        elif target.type != "assign_task":
            self.add(
                key,
                f"'{key}' names '{value}', which is a {target.type} step; it must name an "
                "assign_task step.",
            )
        elif self.elsewhere(target):
            self.add(
                key,
                f"'{key}' names '{value}', which runs in another branch at the same time; "
                "a branch can use only its own tasks and those assigned before the parallel step.",
            )
        elif target.run_index >= self.run_index:
            self.add(
                key,
                f"'{key}' names '{value}', which runs after this step; the task must be "
                "assigned before this step can use it.",
            )

    def assignee(self, value: Any, key: str) -> None:
        if not isinstance(value, str) or not value.strip():
            self.add(
                key,
                f"'{key}' must be 'user:<id>', 'role:<name>' or a template, not {shown(value)}.",
            )
        elif not has_template(value) and not ASSIGNEE.fullmatch(value):
            self.add(
                key, f"'{key}' is {value!r}; it must be 'user:<id>', 'role:<name>' or a template."
            )

    def priority(self, value: Any, key: str) -> None:
        if isinstance(value, str) and (has_template(value) or value in TASK_PRIORITIES):
            return
        self.add(key, f"'{key}' is {shown(value)}; it must be one of {', '.join(TASK_PRIORITIES)}.")

    def date(self, value: Any, key: str) -> None:
        """A template (such as {{now + 3 days}}) or an ISO-8601 date-time with a timezone."""
        if isinstance(value, str) and has_template(value):
            return
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                return
        self.add(
            key,
            f"'{key}' is {shown(value)}; it must be a template such as "
            "{{now + 3 days}} or an ISO-8601 date-time with a timezone.",
        )

    def addresses(self, value: Any, key: str) -> None:
        items = value if isinstance(value, list) else [value]
        if not items:
            self.add(key, f"'{key}' must name at least one address.")
        for index, item in enumerate(items):
            where = f"{key}[{index}]" if isinstance(value, list) else key
            if not isinstance(item, str) or not item.strip():
                self.add(
                    where, f"'{where}' must be an email address or a template, not {shown(item)}."
                )
            elif not has_template(item):
                for address in item.split(","):
                    if not _looks_like_email(address):
                        self.add(where, f"{address.strip()!r} is not an email address.")

    def contact_mapping(self, mapping: Mapping[str, Any], key: str) -> None:
        for name, item in mapping.items():
            where = f"{key}.{name}"
            if not _is_contact_field(name):
                self.add(
                    where,
                    f"'{name}' is not a contact field; use one of "
                    f"{', '.join(CONTACT_FIELDS)} or fields.<key>.",
                )
            if item is not None and not isinstance(item, str | int | float | bool):
                self.add(where, f"'{where}' must be a value or a template, not {shown(item)}.")

    def object_or_template(self, config: Mapping[str, Any], key: str, *, prefix: str = "") -> None:
        value = config.get(key)
        if value is None or isinstance(value, Mapping):
            return
        if isinstance(value, str) and has_template(value):
            return
        where = f"{prefix}{key}"
        self.add(where, f"'{where}' must be an object or a template, not {shown(value)}.")


def outside(scope: str | None) -> str:
    """Why a jump target outside the jumping step's sequence is refused."""
    if scope is None:
        return "which runs inside a container step; a run cannot jump into one"
    return (
        f"which is not in this step's own sequence ({scope}); a step inside a container "
        "jumps only within it"
    )


def either(*options: str) -> str:
    """`a, b or c`: how the messages list the accepted choices."""
    if len(options) <= 1:
        return "".join(options)
    return f"{', '.join(options[:-1])} or {options[-1]}"


def _is_contact_field(name: str) -> bool:
    if name in CONTACT_FIELDS:
        return True
    return name.startswith("fields.") and bool(name[len("fields.") :].strip())


def _looks_like_email(address: str) -> bool:
    text = address.strip()
    if "<" in text and text.endswith(">"):
        text = text[text.index("<") + 1 : -1].strip()
    local, at, domain = text.partition("@")
    return (
        bool(at and local and domain) and "@" not in domain and not any(ch.isspace() for ch in text)
    )


def shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
