"""Per-step-type rules for a definition's `config` objects.

Each checker reports problems rather than raising, so that one submission yields every problem at
once. Values that are templates cannot be checked until run time; the checkers skip them here and
definition_validation.py checks that their references resolve by construction.
Unknown config keys are tolerated, because builder UIs keep their own notes in configs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.cron import cron_problems
from domain.definition_model import END, TRIGGER_TYPES
from domain.errors import Problem
from domain.templates import has_template

TASK_PRIORITIES = ("low", "medium", "high", "urgent")
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "status")
TASK_UPDATE_KEYS = ("title", "description", "priority", "assign_to", "due_date", "metadata")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WAIT_FOR_TASK_TIMEOUT_ACTIONS = ("send_reminder", "fail", "continue")
WAIT_FOR_SIGNAL_TIMEOUT_ACTIONS = ("fail", "continue")
ASSIGNEE = re.compile(r"(user|role):\S+")
SIGNAL_NAME = re.compile(r"[A-Za-z0-9_.-]+")
MAX_TITLE_LENGTH = 500


@dataclass(frozen=True)
class KnownStep:
    """What a step's neighbours may rely on: its type and where it runs."""

    type: str
    run_index: int


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

    def check(self, config: Mapping[str, Any]) -> None:
        rule = _RULES.get(self.step_type)
        if rule is not None:
            rule(self, config)

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


# -- the rules per step type -------------------------------------------------------------------


def _trigger(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    trigger_type = config.get("type")
    if trigger_type is None:
        c.add("type", f"A trigger step needs 'type', one of {', '.join(TRIGGER_TYPES)}.")
    elif trigger_type not in TRIGGER_TYPES:
        c.add(
            "type",
            f"Trigger type {shown(trigger_type)} is unknown; use one of "
            f"{', '.join(TRIGGER_TYPES)}.",
        )
    elif trigger_type == "schedule":
        cron = c.text(config, "cron", required=True)
        if cron is not None:
            for message in cron_problems(cron):
                c.add("cron", message)
    elif trigger_type == "field_changed":
        c.text(config, "field", required=True)
    if config.get("contact") is not None:
        c.contact_mapping(c.object(config, "contact", required=False), "contact")


def _assign_task(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    title = c.text(config, "title", required=True)
    if title is not None and not has_template(title) and len(title) > MAX_TITLE_LENGTH:
        c.add(
            "title",
            f"'title' is {len(title)} characters long; at most {MAX_TITLE_LENGTH} are allowed.",
        )
    if c.required(config, "assign_to"):
        c.assignee(config["assign_to"], "assign_to")
    if config.get("priority") is not None:
        c.priority(config["priority"], "priority")
    if config.get("due_date") is not None:
        c.date(config["due_date"], "due_date")
    if config.get("description") is not None and not isinstance(config["description"], str):
        c.add("description", f"'description' must be text, not {shown(config['description'])}.")
    _object_or_template(c, config, "metadata")


def _wait_for_task(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=True)
    c.optional_number(config, "timeout_days")
    c.optional_number(config, "max_reminders", whole=True)
    if config.get("on_timeout") is not None:
        c.jump_target(config["on_timeout"], "on_timeout", actions=WAIT_FOR_TASK_TIMEOUT_ACTIONS)


def _update_task(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=True)
    updates = c.object(config, "updates", required=True)
    if "updates" in config and isinstance(config["updates"], Mapping) and not updates:
        c.add("updates", "'updates' is empty; name at least one task field to change.")
    for key, value in updates.items():
        where = f"updates.{key}"
        if key not in TASK_UPDATE_KEYS:
            c.add(
                where,
                f"'{key}' cannot be updated on a task; use one of {', '.join(TASK_UPDATE_KEYS)}.",
            )
        elif key == "priority":
            c.priority(value, where)
        elif key == "assign_to":
            c.assignee(value, where)
        elif key == "due_date" and value is not None:
            c.date(value, where)
        elif key == "title" and (not isinstance(value, str) or not value.strip()):
            c.add(where, f"'{where}' must be non-blank text, not {shown(value)}.")
        elif key == "metadata":
            _object_or_template(c, updates, "metadata", prefix="updates.")


def _complete_task(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=True)
    c.text(config, "outcome", required=False)
    _object_or_template(c, config, "metadata")


def _update_contact(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    fields = c.object(config, "fields", required=True)
    if "fields" in config and isinstance(config["fields"], Mapping) and not fields:
        c.add("fields", "'fields' is empty; name at least one contact field to change.")
    c.contact_mapping(fields, "fields")


def _update_status(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    status = c.text(config, "status", required=True)
    if status is None or has_template(status) or c.status_ids is None:
        return
    if status not in c.status_ids:
        allowed = ", ".join(sorted(c.status_ids)) or "none"
        c.add("status", f"Status {status!r} is not one of the definition's statuses ({allowed}).")


def _set_due_date(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    if c.required(config, "due_date"):
        c.date(config["due_date"], "due_date")
    c.task_reference(config, "task_from_step", required=False)


def _send_email(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    if c.required(config, "to"):
        c.addresses(config["to"], "to")
    if config.get("cc") is not None:
        c.addresses(config["cc"], "cc")
    if config.get("from") is not None:
        c.addresses(config["from"], "from")
    c.text(config, "subject", required=True)
    c.text(config, "body", required=True)


def _reminder(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=False)
    c.text(config, "message", required=True)
    delays = [key for key in ("delay_days", "delay_hours", "delay_minutes") if key in config]
    for key in delays:
        c.number(config[key], key)
    if "at" in config:
        if delays:
            c.add("at", f"Give either 'at' or {', '.join(delays)}, not both.")
        c.date(config["at"], "at")
    elif not delays:
        c.add(
            "delay_days",
            "A reminder step needs when to fire: delay_days, delay_hours, delay_minutes or at.",
        )


def _delay(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    given = [key for key in units if key in config]
    if not given:
        c.add("days", "A delay step needs at least one of days, hours, minutes or seconds.")
        return
    total = 0.0
    valid = True
    for key in given:
        value = c.number(config[key], key, inclusive=True)
        if value is None:
            valid = False
        else:
            total += value * units[key]
    if valid and total <= 0:
        c.add(given[0], "A delay step must wait for some time; its duration adds up to zero.")


def _condition(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
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


def _wait_for_signal(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    signal = c.text(config, "signal", required=True)
    if signal is not None and not SIGNAL_NAME.fullmatch(signal):
        c.add("signal", f"Signal name {signal!r} may use only letters, digits, '_', '.' and '-'.")
    c.optional_number(config, "timeout_days")
    c.optional_number(config, "timeout_hours")
    if config.get("on_timeout") is not None:
        c.jump_target(config["on_timeout"], "on_timeout", actions=WAIT_FOR_SIGNAL_TIMEOUT_ACTIONS)


def _http_request(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    if c.required(config, "method") and config["method"] not in HTTP_METHODS:
        c.add(
            "method",
            f"HTTP method {shown(config['method'])} is not one of {', '.join(HTTP_METHODS)}.",
        )
    url = c.text(config, "url", required=True)
    # A URL built by a template (`{{input.callback_url}}/done`) can only be checked at run time.
    if (
        url is not None
        and not url.lstrip().startswith("{{")
        and not url.lower().startswith(("http://", "https://"))
    ):
        c.add("url", f"URL {url!r} must start with http:// or https://.")
    headers = c.object(config, "headers", required=False)
    for name, value in headers.items():
        if not isinstance(value, str):
            c.add(f"headers.{name}", f"Header '{name}' must be text, not {shown(value)}.")
    c.optional_number(config, "timeout_seconds", maximum=300)
    c.optional_number(config, "retries", inclusive=True, maximum=10, whole=True)


_RULES: dict[str, Callable[[StepConfigChecker, Mapping[str, Any]], None]] = {
    "trigger": _trigger,
    "assign_task": _assign_task,
    "wait_for_task": _wait_for_task,
    "update_task": _update_task,
    "complete_task": _complete_task,
    "update_contact": _update_contact,
    "update_status": _update_status,
    "set_due_date": _set_due_date,
    "send_email": _send_email,
    "reminder": _reminder,
    "delay": _delay,
    "condition": _condition,
    "wait_for_signal": _wait_for_signal,
    "http_request": _http_request,
}


def _object_or_template(
    c: StepConfigChecker, config: Mapping[str, Any], key: str, *, prefix: str = ""
) -> None:
    value = config.get(key)
    if value is None or isinstance(value, Mapping):
        return
    if isinstance(value, str) and has_template(value):
        return
    c.add(f"{prefix}{key}", f"'{prefix}{key}' must be an object or a template, not {shown(value)}.")


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
