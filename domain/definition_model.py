"""The parsed shape of a workflow definition.

Validation (definition_validation.py) turns a client's JSON into these frozen objects; the engine
reads them (the step types and their typed configs live in `domain.steps`).
`Definition.from_dict` rebuilds one from a body this package already normalised (as stored in
`WorkflowDefinition.VersionPublished`) without validating again, so that a version which was
accepted once keeps loading even if the validation rules tighten later.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
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
    """One step; `config` is the step type's own JSON object, templates unrendered.

    `compensate` holds the steps that undo this one (saga compensation, docs/engine.md), run in
    list order when a later step fails or the execution is cancelled; they are steps of their
    own (ids unique in the definition) but never part of the run order.
    """

    id: str
    type: str
    name: str
    config: dict[str, Any]
    order: int | None = None
    next: str | None = None
    compensate: tuple[Step, ...] = ()
    # Per-step error policy (docs/engine.md, "Error policy"): `retry` ({attempts,
    # backoff_seconds, backoff_coefficient, max_backoff_seconds}) for the step's outbound call,
    # and `on_failure` (fail, continue, park, or a step id / end to go to) once it failed.
    retry: dict[str, Any] | None = None
    on_failure: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "config": copy.deepcopy(self.config),
            "order": self.order,
            "next": self.next,
        }
        # Only when declared: bodies stored before these keys keep their exact shape.
        if self.compensate:
            body["compensate"] = [c.compensation_dict() for c in self.compensate]
        if self.retry is not None:
            body["retry"] = dict(self.retry)
        if self.on_failure is not None:
            body["on_failure"] = self.on_failure
        return body

    def compensation_dict(self) -> dict[str, Any]:
        """A compensation as `compensate` lists it (it has no order, next or compensate)."""
        body: dict[str, Any] = {"id": self.id, "type": self.type, "name": self.name}
        body["config"] = copy.deepcopy(self.config)
        if self.retry is not None:
            body["retry"] = dict(self.retry)
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Step:
        """Rebuild from a normalised step (see `Definition.from_dict`)."""
        return cls(
            id=body["id"],
            type=body["type"],
            name=body["name"],
            config=copy.deepcopy(dict(body.get("config") or {})),
            order=body.get("order"),
            next=body.get("next"),
            compensate=tuple(cls.from_dict(c) for c in body.get("compensate") or ()),
            retry=None if body.get("retry") is None else dict(body["retry"]),
            on_failure=body.get("on_failure"),
        )


@dataclass(frozen=True)
class Branch:
    """A sequence of steps inside a container step (a `parallel` step's branch): it runs its
    steps in list order (`next`, jumps and `end` stay within it) and ends after its last one."""

    name: str
    steps: tuple[Step, ...]

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def first_step_id(self) -> str:
        return self.steps[0].id if self.steps else END

    def next_step_id(self, step_id: str) -> str:
        """Where the branch goes after `step_id` when nothing jumps; END after its last step."""
        step = self.step(step_id)
        if step.next is not None:
            return step.next
        ids = [each.id for each in self.steps]
        index = ids.index(step_id)
        return ids[index + 1] if index + 1 < len(ids) else END


def branches_of(step: Step) -> tuple[Branch, ...]:
    """The sequences a container step holds, from its (normalised) config; () for any other
    step. A `parallel` step: one per entry of `branches`; a `for_each`: its `steps`, named
    after it."""
    if step.type == "for_each":
        steps = step.config.get("steps") or ()
        return (Branch(name=step.id, steps=tuple(Step.from_dict(each) for each in steps)),)
    if step.type != "parallel":
        return ()
    branches = step.config.get("branches")
    return tuple(
        Branch(
            name=str(branch.get("name")),
            steps=tuple(Step.from_dict(each) for each in branch.get("steps") or ()),
        )
        for branch in branches or ()
        if isinstance(branch, Mapping)
    )


def nested_steps(step: Step) -> tuple[Step, ...]:
    """Every step inside a container step, at any depth."""
    found: list[Step] = []
    for branch in branches_of(step):
        for each in branch.steps:
            found.append(each)
            found.extend(nested_steps(each))
    return tuple(found)


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

    def find(self, step_id: str) -> Step:
        """Any step of the run by id: one of the definition's own, or one inside a container
        step (KeyError when none has that id)."""
        for step in self.steps:
            if step.id == step_id:
                return step
            for each in nested_steps(step):
                if each.id == step_id:
                    return each
        raise KeyError(step_id)

    def compensation(self, step_id: str) -> Step:
        """The compensation step `step_id` (KeyError when no step declares one by that id)."""
        for step in self.steps:
            for owner in (step, *nested_steps(step)):
                for compensation in owner.compensate:
                    if compensation.id == step_id:
                        return compensation
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
            steps=tuple(Step.from_dict(s) for s in body["steps"]),
        )


# Where a running execution may move to another version of its definition: parked in a wait
# of one of these types, at the top of the run order (docs/engine.md, "Moving executions").
MIGRATABLE_WAITS = ("wait_for_task", "wait_for_signal", "delay")


def migration_target(
    source: Definition,
    target: Definition,
    step_id: str,
    mapping: Mapping[str, str],
    *,
    target_version: int,
    undoable: Iterable[str] = (),
) -> tuple[str | None, str | None]:
    """Where an execution waiting in `step_id` of `source` goes on in `target`: ``(the
    target's step, None)``, or ``(None, why it cannot move)``.

    The step goes to ``mapping[step_id]``, else to the step of the same id when `target` has
    one; that step must be of `target`'s own run order (not inside a container) and of the same
    type. `undoable` are the completed steps that declare `compensate`: each must go to a step
    of `target` as well, or its undo would be lost.
    """
    try:
        current = source.step(step_id)
    except KeyError:
        inside = "inside a container step" if _nested(source, step_id) else "not of its version"
        return None, f"not at a safe point: its current step {step_id!r} is {inside}."
    if current.type not in MIGRATABLE_WAITS:
        return None, (
            f"not at a safe point: its current step {step_id!r} is a {current.type} step, not "
            f"a wait ({', '.join(MIGRATABLE_WAITS)})."
        )
    to = mapping.get(step_id)
    if to is None:
        if not _has_own(target, step_id):
            return None, (
                f"its current step {step_id!r} has no mapping, and version {target_version} "
                f"has no step {step_id!r}."
            )
        to = step_id
    if not _has_own(target, to):
        where = "is inside a container step" if _nested(target, to) else "does not exist"
        return None, f"the mapped step {to!r} {where} in version {target_version}."
    mapped = target.step(to)
    if mapped.type != current.type:
        return None, (
            f"the mapped step {to!r} is a {mapped.type} step in version {target_version}, not "
            f"a {current.type} step like {step_id!r}."
        )
    for done in undoable:
        undone_as = mapping.get(done, done)
        if not (_has_own(target, undone_as) or _nested(target, undone_as)):
            return None, (
                f"the completed step {done!r} says how to undo it (compensate), and version "
                f"{target_version} has no step it maps to."
            )
    return to, None


def _has_own(definition: Definition, step_id: str) -> bool:
    return any(step.id == step_id for step in definition.steps)


def _nested(definition: Definition, step_id: str) -> bool:
    return any(each.id == step_id for step in definition.steps for each in nested_steps(step))


__all__ = [
    "END",
    "MIGRATABLE_WAITS",
    "STEP_TYPES",
    "TEMPLATE_ROOTS",
    "TRIGGER_TYPES",
    "Branch",
    "Definition",
    "StatusOption",
    "Step",
    "branches_of",
    "migration_target",
    "nested_steps",
]
