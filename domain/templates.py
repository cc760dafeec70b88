"""The `{{ ... }}` template language of workflow definitions.

Definitions are written by admins and rendered inside the workflow engine, so the language is
deliberately tiny and safe: an expression is either a dotted path looked up through mapping keys
and list indexes (never Python attributes, never `eval`), or a date relative to `now`. Rendering
takes `now` as an argument because the engine must stay deterministic and the domain never reads
the clock.

A string that is exactly one expression renders to the native value (a dict, a number, ...), so a
config such as `"metadata": "{{step_3.task.metadata}}"` passes structured data through; any other
string is interpolated as text.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from domain.errors import TemplateResolutionError, TemplateSyntaxError
from domain.secret_names import NAME_PATTERN

__all__ = [
    "DateExpression",
    "PathExpression",
    "SecretReference",
    "Template",
    "TemplateResolutionError",
    "TemplateSyntaxError",
    "has_template",
    "parse_template",
    "render_value",
    "secret_names",
]

OPEN = "{{"
CLOSE = "}}"

_SEGMENT = re.compile(r"[^\s.{}]+")
_DATE = re.compile(r"now(?:\s*([+-])\s*(\d+)\s*([A-Za-z]+))?")
_DATE_PREFIX = re.compile(r"now(?:\s|[+-]|$)")
_UNITS = {
    "minute": "minutes",
    "minutes": "minutes",
    "hour": "hours",
    "hours": "hours",
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
}


@dataclass(frozen=True)
class PathExpression:
    """`root.seg.seg`: numeric segments index lists, the others are mapping keys."""

    source: str
    root: str
    segments: tuple[str, ...]

    def resolve(self, context: Mapping[str, Any], *, strict: bool) -> Any:
        if self.root not in context:
            return self._missing(self.root, f"there is no '{self.root}' to read from", strict)
        value: Any = context[self.root]
        walked = self.root
        for segment in self.segments:
            if isinstance(value, Mapping):
                if segment not in value:
                    return self._missing(segment, f"{walked} has no '{segment}'", strict)
                value = value[segment]
            elif isinstance(value, list | tuple):
                if not segment.isdigit() or int(segment) >= len(value):
                    return self._missing(
                        segment,
                        f"{walked} is a list of {len(value)} item(s), so '{segment}' is not in it",
                        strict,
                    )
                value = value[int(segment)]
            else:
                kind = "empty" if value is None else f"a {type(value).__name__}"
                return self._missing(
                    segment, f"{walked} is {kind}, so it has no '{segment}'", strict
                )
            walked = f"{walked}.{segment}"
        return value

    def _missing(self, segment: str, reason: str, strict: bool) -> None:
        if strict:
            raise TemplateResolutionError(
                f"The template {{{{{self.source}}}}} cannot be resolved: {reason}.",
                expression=self.source,
                segment=segment,
            )
        return None


@dataclass(frozen=True)
class DateExpression:
    """`now`, `now + N unit` or `now - N unit`; renders as ISO-8601 text."""

    source: str
    offset: timedelta

    @property
    def root(self) -> str:
        return "now"

    def resolve(self, now: datetime) -> str:
        return (now + self.offset).isoformat()


Expression = PathExpression | DateExpression

# `{{secrets.NAME}}`: a reference to one of the org's secrets (domain/secret.py). Rendering
# leaves it in place, as this exact text, so that the value never enters the workflow (its
# history, events, outputs); only the activity that makes an outbound call substitutes it,
# just before the call (application/delivery/secret_refs.py).
SECRETS_ROOT = "secrets"
SECRET_MARKER = OPEN + SECRETS_ROOT + "."
_SECRET_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class SecretReference:
    """`{{secrets.NAME}}`: rendered as itself (`text`), never resolved inside the workflow."""

    source: str
    name: str

    @property
    def text(self) -> str:
        return f"{SECRET_MARKER}{self.name}{CLOSE}"


@dataclass(frozen=True)
class Template:
    """A parsed string: literal text interleaved with expressions."""

    text: str
    parts: tuple[str | Expression | SecretReference, ...]

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """What rendering resolves from the data (secret references are not among them)."""
        return tuple(
            part for part in self.parts if isinstance(part, PathExpression | DateExpression)
        )

    @property
    def secret_names(self) -> frozenset[str]:
        """The names of the org's secrets the template references (`{{secrets.NAME}}`)."""
        return frozenset(part.name for part in self.parts if isinstance(part, SecretReference))

    @property
    def references(self) -> frozenset[str]:
        """Root names the template reads: what a validator checks exists."""
        return frozenset(expression.root for expression in self.expressions)

    @property
    def is_single_expression(self) -> bool:
        return len(self.parts) == 1 and not isinstance(self.parts[0], str)

    def render(self, context: Mapping[str, Any], now: datetime, strict: bool = True) -> Any:
        """Render against `context` (roots -> JSON data).

        With `strict=False` a missing path yields None (or "" inside text) instead of raising,
        for places where a blank is better than a failed step, such as previews.
        """
        if self.is_single_expression:
            value = _evaluate(self.parts[0], context, now, strict)
            return copy.deepcopy(value)
        pieces: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
            else:
                pieces.append(_as_text(_evaluate(part, context, now, strict)))
        return "".join(pieces)


def has_template(text: str) -> bool:
    """Whether `text` contains template markup (and so must be parsed and checked)."""
    return OPEN in text


@lru_cache(maxsize=1024)
def parse_template(text: str) -> Template:
    """Parse `text`, raising TemplateSyntaxError naming the expression and its position."""
    parts: list[str | Expression | SecretReference] = []
    cursor = 0
    while True:
        start = text.find(OPEN, cursor)
        if start < 0:
            if cursor < len(text):
                parts.append(text[cursor:])
            break
        if start > cursor:
            parts.append(text[cursor:start])
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            raise TemplateSyntaxError(
                f"The template {text!r} opens '{{{{' at position {start} but never closes it "
                "with '}}'.",
                expression=text[start:],
                position=start,
            )
        parts.append(_parse_expression(text[start + len(OPEN) : end], start))
        cursor = end + len(CLOSE)
    return Template(text=text, parts=tuple(parts))


def render_value(value: Any, context: Mapping[str, Any], now: datetime, strict: bool = True) -> Any:
    """Render every template inside a JSON value (a whole step config, for example)."""
    if isinstance(value, str):
        if not has_template(value):
            return value
        return parse_template(value).render(context, now, strict=strict)
    if isinstance(value, Mapping):
        return {key: render_value(item, context, now, strict=strict) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, context, now, strict=strict) for item in value]
    return value


def secret_names(value: Any) -> frozenset[str]:
    """The secret names every template inside a JSON value references (templates that do not
    parse reference none: validation reports them)."""
    names: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if OPEN in item:
                with contextlib.suppress(TemplateSyntaxError):
                    names |= parse_template(item).secret_names
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return frozenset(names)


def _parse_expression(raw: str, position: int) -> Expression | SecretReference:
    source = raw.strip()
    if not source:
        raise TemplateSyntaxError(
            f"The template expression at position {position} is empty: write a path such as "
            "{{contact.first_name}} or a date such as {{now + 3 days}}.",
            expression=raw,
            position=position,
        )
    if _DATE_PREFIX.match(source):
        return _parse_date(source, position)
    if source.startswith("now."):
        raise TemplateSyntaxError(
            f"The template expression {{{{{source}}}}} at position {position} is invalid: "
            "'now' has no fields; use now, now + N days or now - N hours.",
            expression=source,
            position=position,
        )
    segments = source.split(".")
    if segments[0] == SECRETS_ROOT:
        return _parse_secret(source, segments, position)
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            shown = f"'{segment}'" if segment else "an empty segment"
            raise TemplateSyntaxError(
                f"The template expression {{{{{source}}}}} at position {position} is invalid: "
                f"{shown} is not a valid path segment (paths look like contact.first_name or "
                "payload.items.0.name).",
                expression=source,
                position=position,
            )
    return PathExpression(source=source, root=segments[0], segments=tuple(segments[1:]))


def _parse_secret(source: str, segments: list[str], position: int) -> SecretReference:
    if len(segments) != 2 or not _SECRET_NAME.fullmatch(segments[1]):
        raise TemplateSyntaxError(
            f"The template expression {{{{{source}}}}} at position {position} is invalid: a "
            "secret is referenced as {{secrets.NAME}}, NAME being 1 to 64 upper-case letters, "
            "digits and underscores starting with a letter.",
            expression=source,
            position=position,
        )
    return SecretReference(source=source, name=segments[1])


def _parse_date(source: str, position: int) -> DateExpression:
    match = _DATE.fullmatch(source)
    unit = match.group(3).lower() if match and match.group(3) else None
    if match is None or (unit is not None and unit not in _UNITS):
        raise TemplateSyntaxError(
            f"The date expression {{{{{source}}}}} at position {position} is invalid: write now, "
            "now + N unit or now - N unit with N a whole number and unit one of minutes, hours, "
            "days or weeks.",
            expression=source,
            position=position,
        )
    if unit is None:
        return DateExpression(source=source, offset=timedelta(0))
    amount = int(match.group(2))
    if match.group(1) == "-":
        amount = -amount
    return DateExpression(source=source, offset=timedelta(**{_UNITS[unit]: amount}))


def _evaluate(
    expression: str | Expression | SecretReference,
    context: Mapping[str, Any],
    now: datetime,
    strict: bool,
) -> Any:
    if isinstance(expression, DateExpression):
        return expression.resolve(now)
    if isinstance(expression, SecretReference):
        return expression.text
    if isinstance(expression, PathExpression):
        value = expression.resolve(context, strict=strict)
        _refuse_forged_reference(expression, value)
        return value
    return expression


def _refuse_forged_reference(expression: PathExpression, value: Any) -> None:
    """Data cannot write a secret reference: only a definition may. A payload holding
    `{{secrets.X}}` rendered into an outbound call would otherwise have the activity send
    the secret wherever that call goes."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if SECRET_MARKER in item:
                raise TemplateResolutionError(
                    f"The template {{{{{expression.source}}}}} cannot be rendered: its value "
                    f"holds {SECRET_MARKER!r}, and only a definition may reference a secret.",
                    expression=expression.source,
                    segment=SECRETS_ROOT,
                )
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)
