"""Small value checks shared by the aggregates.

Events are stored as plain JSON and must rebuild the same aggregate after a round trip, so every
payload goes through `json_copy`: it refuses anything JSON cannot carry exactly (datetimes, sets,
NaN) instead of letting the transcoder change it silently, and it copies, so that later changes to
a caller's dict can never reach an event that was already recorded.

Text has two limits of its own: Postgres stores no NUL character (U+0000) in ``text`` or
``jsonb``, and a lone surrogate (U+D800 to U+DFFF, which a JSON escape such as ``\\ud800`` can
spell) is not Unicode and cannot be encoded as UTF-8 at all. Either one would make the append
fail on every retry, so `text_problem` finds them and every text check here refuses them as
invalid values, and the API refuses them with the same words before a command starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.errors import InvalidValueError

# How deep the API lets a JSON body nest (objects and arrays). Real payloads stay within a
# handful of levels; the limit keeps the interpreter's recursion and the serialisers' own
# limits (pydantic-core refuses 255 levels) far away.
MAX_JSON_DEPTH = 64


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as text, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (U+D800 to U+DFFF), which is not Unicode text"
    return None


def json_problem(value: object, *, field: str = "") -> tuple[str, str] | None:
    """The first ``(field path, reason)`` where `value` cannot be stored as JSON, else None.

    Looks at every string and object key, and at the nesting depth (`MAX_JSON_DEPTH`). Paths
    read like the API's error fields: ``fields.tags[1]``; a bad key is reported at its object.
    Iterative, so that no input can exhaust the interpreter's recursion.
    """
    stack: list[tuple[object, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            reason = text_problem(item)
            if reason is not None:
                return path, reason
        elif isinstance(item, Mapping | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                return path, f"is nested more than {MAX_JSON_DEPTH} levels deep"
            if isinstance(item, Mapping):
                children = []
                for key, child in item.items():
                    reason = text_problem(key) if isinstance(key, str) else None
                    if reason is not None:
                        return path, f"has a key that {reason}"
                    children.append((child, f"{path}.{key}" if path else str(key), depth + 1))
                stack.extend(reversed(children))
            else:
                stack.extend(
                    (child, f"{path}[{index}]", depth + 1)
                    for index, child in reversed(list(enumerate(item)))
                )
    return None


def _storable(text: str, field: str) -> str:
    reason = text_problem(text)
    if reason is not None:
        raise InvalidValueError(f"{field} {reason}.", field=field)
    return text


def utc(at: datetime, *, field: str = "at") -> datetime:
    """Return `at` in UTC; naive datetimes are refused because their instant is unknowable."""
    if not isinstance(at, datetime):
        raise InvalidValueError(f"{field} must be a datetime, not {at!r}.", field=field)
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidValueError(
            f"{field} must be timezone-aware; {at.isoformat()} has no timezone.", field=field
        )
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise InvalidValueError(
            f"{field} {at.isoformat()} is out of range once converted to UTC.", field=field
        ) from None


def iso(at: datetime, *, field: str = "at") -> str:
    """ISO-8601 text of `at` in UTC, so that equal instants always compare equal as strings."""
    return utc(at, field=field).isoformat()


def from_iso(text: str | None) -> datetime | None:
    """Parse a datetime that this package wrote with `iso`."""
    return None if text is None else datetime.fromisoformat(text)


def json_copy(value: object, *, field: str) -> Any:
    """A deep copy of `value` made only of JSON-native types (tuples become lists)."""
    if isinstance(value, str):
        return _storable(value, field)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValueError(
                f"{field} holds {value!r}, which JSON cannot store.", field=field
            )
        return value
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValueError(
                    f"{field} has the key {key!r}; object keys must be strings.", field=field
                )
            reason = text_problem(key)
            if reason is not None:
                raise InvalidValueError(f"{field} has a key that {reason}.", field=field)
            copied[key] = json_copy(item, field=f"{field}.{key}")
        return copied
    if isinstance(value, list | tuple):
        return [json_copy(item, field=f"{field}[{index}]") for index, item in enumerate(value)]
    raise InvalidValueError(
        f"{field} holds a {type(value).__name__} ({value!r}); only JSON values are allowed.",
        field=field,
    )


def json_object(value: object, *, field: str) -> dict[str, Any]:
    """A JSON object copied from `value`; None means empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidValueError(
            f"{field} must be an object, not {type(value).__name__} {value!r}.", field=field
        )
    copied: dict[str, Any] = json_copy(value, field=field)
    return copied


def merge_object(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Key-by-key merge where a None value removes the key: how partial updates clear a key."""
    merged = dict(current)
    for key, item in changes.items():
        if item is None:
            merged.pop(key, None)
        else:
            merged[key] = item
    return merged


def optional_text(value: object, *, field: str) -> str | None:
    """Trimmed text, with blank meaning absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValueError(
            f"{field} must be text, not {type(value).__name__} {value!r}.", field=field
        )
    stripped = _storable(value, field).strip()
    return stripped or None


def required_text(value: object, *, field: str) -> str:
    """Trimmed, non-blank text."""
    text = optional_text(value, field=field)
    if text is None:
        raise InvalidValueError(f"{field} is required and cannot be blank.", field=field)
    return text


def id_text(value: object, *, field: str) -> str:
    """An identifier as text: events carry ids as strings so they survive JSON unchanged."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str) and value.strip():
        return _storable(value, field).strip()
    raise InvalidValueError(f"{field} must be a non-blank id, not {value!r}.", field=field)


def optional_id_text(value: object, *, field: str) -> str | None:
    """Like `id_text`, with None meaning absent."""
    return None if value is None else id_text(value, field=field)
