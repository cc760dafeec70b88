"""The parsed shape of a workflow definition.

Validation (definition_validation.py) turns a client's JSON into these frozen objects; the engine
reads them (the step types and their typed configs live in `domain.steps`).
`Definition.from_dict` rebuilds one from a body this package already normalised (as stored in
`WorkflowDefinition.VersionPublished`) without validating again, so that a version which was
accepted once keeps loading even if the validation rules tighten later.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.steps import END, STEP_TYPES
from domain.steps.trigger import TRIGGER_TYPES

TEMPLATE_ROOTS: tuple[str, ...] = ("contact", "payload", "input", "execution", "now")
"""Template roots that always exist; any other root must be the id of an earlier step."""


@dataclass(frozen=True)
class StatusOption:
    """A `ui_status` value the definition may set, with how a UI shows it."""

    id: str
    label: str
    color: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "color": self.color}


@dataclass(frozen=True)
class Step:
    """One step; `config` is the step type's own JSON object, templates unrendered."""

    id: str
    type: str
    name: str
    config: dict[str, Any]
    order: int | None = None
    next: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "config": copy.deepcopy(self.config),
            "order": self.order,
            "next": self.next,
        }


@dataclass(frozen=True)
class Definition:
    """A whole definition with its steps in run order (the trigger first)."""

    name: str
    description: str | None
    statuses: tuple[StatusOption, ...]
    steps: tuple[Step, ...]

    @property
    def trigger(self) -> Step:
        return self.steps[0]

    @property
    def trigger_config(self) -> dict[str, Any]:
        return copy.deepcopy(self.trigger.config)

    @property
    def trigger_type(self) -> str | None:
        value = self.trigger.config.get("type")
        return value if isinstance(value, str) else None

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def index_of(self, step_id: str) -> int:
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                return index
        raise KeyError(step_id)

    def next_step_id(self, step_id: str) -> str:
        """Where the run goes after `step_id` when nothing jumps: its `next`, or the following step.

        Returns END after the last step.
        """
        step = self.step(step_id)
        if step.next is not None:
            return step.next
        index = self.index_of(step_id)
        return self.steps[index + 1].id if index + 1 < len(self.steps) else END

    def to_dict(self) -> dict[str, Any]:
        """The normalised body: plain JSON, steps in run order, every key present."""
        return {
            "name": self.name,
            "description": self.description,
            "statuses": [status.to_dict() for status in self.statuses],
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Definition:
        """Rebuild from a normalised body (see module docstring); no validation happens."""
        return cls(
            name=body["name"],
            description=body.get("description"),
            statuses=tuple(
                StatusOption(id=s["id"], label=s["label"], color=s.get("color"))
                for s in body.get("statuses") or ()
            ),
            steps=tuple(
                Step(
                    id=s["id"],
                    type=s["type"],
                    name=s["name"],
                    config=copy.deepcopy(dict(s.get("config") or {})),
                    order=s.get("order"),
                    next=s.get("next"),
                )
                for s in body["steps"]
            ),
        )


__all__ = [
    "END",
    "STEP_TYPES",
    "TEMPLATE_ROOTS",
    "TRIGGER_TYPES",
    "Definition",
    "StatusOption",
    "Step",
]
