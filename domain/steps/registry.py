"""The step types by name: what definitions may use, validation checks and the engine runs.

The built-in types register themselves in `domain.steps` (one line each); a type defined
elsewhere (a plug-in, a test) registers with `register`. `STEP_TYPES` is a live view of the
names, so a type registered later is known everywhere at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from domain.steps.base import StepType

_TYPES: dict[str, StepType] = {}


def register(step_type: StepType) -> StepType:
    """Make `step_type` known; registering the same definition again changes nothing, while a
    second, different type under a taken name is refused (it would silently replace the first)."""
    known = _TYPES.get(step_type.name)
    if known is not None and known != step_type:
        raise ValueError(f"a step type named {step_type.name!r} is already registered")
    _TYPES[step_type.name] = step_type
    return step_type


def step_type(name: str) -> StepType:
    """The registered type `name`; KeyError when there is none."""
    return _TYPES[name]


def step_types() -> tuple[StepType, ...]:
    """Every registered type, in registration order."""
    return tuple(_TYPES.values())


class _Names(Collection[str]):
    """The registered names in registration order (error messages list them)."""

    def __contains__(self, name: object) -> bool:
        return name in _TYPES

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_TYPES))

    def __len__(self) -> int:
        return len(_TYPES)

    def __repr__(self) -> str:
        return f"STEP_TYPES{tuple(_TYPES)!r}"

    def __eq__(self, other: Any) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Collection) else other)

    __hash__ = None  # type: ignore[assignment]


STEP_TYPES: Collection[str] = _Names()
