"""The Task aggregate: work assigned to a user or a role, standalone or created by a workflow.

A task created by a workflow step remembers its execution and step, because completing it is what
wakes that execution (`wait_for_task`). Status changes follow a small state machine: cancelled is
final so that a cancelled review can never be completed behind the workflow's back, while done can
be reopened because people close tasks by mistake.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import InvalidTransitionError, InvalidValueError
from domain.values import (
    from_iso,
    id_text,
    iso,
    json_object,
    merge_object,
    optional_id_text,
    optional_text,
    utc,
)

STATUSES = ("todo", "in_progress", "done", "cancelled")
CLOSED = ("done", "cancelled")
PRIORITIES = ("low", "medium", "high", "urgent")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "todo": ("in_progress", "done", "cancelled"),
    "in_progress": ("todo", "done", "cancelled"),
    "done": ("todo", "in_progress"),
    "cancelled": (),
}
UPDATABLE_FIELDS = ("title", "description", "priority", "metadata")
MAX_TITLE_LENGTH = 500
_ASSIGNEE = re.compile(r"(user|role):\S+")


class Task(Aggregate):
    """A unit of work with one assignee (`user:<id>` or `role:<name>`)."""

    personal_owner: ClassVar[str] = "contact_id"

    class Assigned(Aggregate.Created):
        personal_data: ClassVar[tuple[str, ...]] = ("title", "description", "metadata")
        org_id: str
        title: str
        description: str | None
        assigned_to: str
        priority: str
        due_date: str | None
        execution_id: str | None
        step_id: str | None
        contact_id: str | None
        metadata: dict[str, Any]
        status: str

    class Updated(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("changes",)
        changes: dict[str, dict[str, Any]]

        def apply(self, aggregate: Task) -> None:
            for name, change in self.changes.items():
                aggregate._assign(name, copy.deepcopy(change["new"]))

    class StatusChanged(Aggregate.Event):
        """Version 2 adds `closed_at`: when the task stopped being open work, done *or*
        cancelled (null when it opens again). `completed_at` is set for done only, so before it
        a cancelled task's end was nowhere in the task's own terms, and how long people kept a
        task open (what a step's human wait is made of) could not be read off its events alike
        for both endings. Version 1 events, stored before, are upcast on load (docs/event-store.md,
        "How to evolve an event")."""

        class_version = 2
        personal_data: ClassVar[tuple[str, ...]] = ("metadata",)

        old_status: str
        new_status: str
        metadata: dict[str, Any]
        completed_at: str | None
        closed_at: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """The close time a version 1 event implies: its own time, when it closed the task.

            The state is the stored JSON: `timestamp` is still ISO 8601 text here (a datetime
            with a codec that keeps types), and is the time the command ran, which is what
            version 2 records."""
            moment = state.get("timestamp")
            if isinstance(moment, datetime):
                moment = moment.isoformat()
            state["closed_at"] = moment if state.get("new_status") in CLOSED else None

        def apply(self, aggregate: Task) -> None:
            aggregate._status = self.new_status
            aggregate._metadata = merge_object(aggregate._metadata, copy.deepcopy(self.metadata))
            aggregate._completed_at = self.completed_at
            aggregate._closed_at = self.closed_at

    class Reassigned(Aggregate.Event):
        old_assigned_to: str
        new_assigned_to: str

        def apply(self, aggregate: Task) -> None:
            aggregate._assigned_to = self.new_assigned_to

    class DueDateSet(Aggregate.Event):
        old_due_date: str | None
        new_due_date: str | None

        def apply(self, aggregate: Task) -> None:
            aggregate._due_date = self.new_due_date

    def __init__(
        self,
        *,
        org_id: str,
        title: str,
        description: str | None,
        assigned_to: str,
        priority: str,
        due_date: str | None,
        execution_id: str | None,
        step_id: str | None,
        contact_id: str | None,
        metadata: dict[str, Any],
        status: str,
    ) -> None:
        # Called with the Assigned event's attributes, both when assigned and when rebuilt.
        self._org_id = org_id
        self._title = title
        self._description = description
        self._assigned_to = assigned_to
        self._priority = priority
        self._due_date = due_date
        self._execution_id = execution_id
        self._step_id = step_id
        self._contact_id = contact_id
        self._metadata: dict[str, Any] = copy.deepcopy(metadata)
        self._status = status
        self._completed_at: str | None = None
        self._closed_at: str | None = None

    # -- commands ------------------------------------------------------------------------------

    @classmethod
    def assign(
        cls,
        *,
        task_id: UUID,
        org_id: str,
        title: str,
        description: str | None = None,
        assigned_to: str,
        priority: str = "medium",
        due_date: datetime | None = None,
        execution_id: str | UUID | None = None,
        step_id: str | None = None,
        contact_id: str | UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
        at: datetime,
    ) -> Task:
        if not isinstance(task_id, UUID):
            raise InvalidValueError(f"task_id must be a UUID, not {task_id!r}.", field="task_id")
        execution = optional_id_text(execution_id, field="execution_id")
        step = optional_id_text(step_id, field="step_id")
        if step is not None and execution is None:
            raise InvalidValueError(
                f"step_id {step!r} needs an execution_id: only tasks created by a workflow "
                "come from a step.",
                field="step_id",
            )
        return cls._create(
            cls.Assigned,
            id=task_id,
            timestamp=utc(at),
            org_id=id_text(org_id, field="org_id"),
            title=_title(title),
            description=optional_text(description, field="description"),
            assigned_to=_assignee(assigned_to),
            priority=_priority(priority),
            due_date=None if due_date is None else iso(due_date, field="due_date"),
            execution_id=execution,
            step_id=step,
            contact_id=optional_id_text(contact_id, field="contact_id"),
            metadata=merge_object({}, json_object(metadata, field="metadata")),
            status="todo",
        )

    def update(self, *, changes: Mapping[str, Any], at: datetime) -> bool:
        """Edit title, description, priority or metadata; False (no event) when nothing changes.

        `metadata` is merged key by key and a key given as None is removed.
        """
        self._require_not_cancelled("changed")
        timestamp = utc(at)
        for key in changes:
            if key not in UPDATABLE_FIELDS:
                raise InvalidValueError(
                    f"{key!r} cannot be updated this way; use one of "
                    f"{', '.join(UPDATABLE_FIELDS)} (status, assignee and due date have their "
                    "own commands).",
                    field=str(key),
                )
        recorded: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            old = self._current(key)
            new = self._normalised(key, value)
            if new != old:
                recorded[key] = {"old": copy.deepcopy(old), "new": new}
        if not recorded:
            return False
        self.trigger_event(self.Updated, timestamp=timestamp, changes=recorded)
        return True

    def change_status(
        self, *, status: str, metadata: Mapping[str, Any] | None = None, at: datetime
    ) -> bool:
        """Move the task through its state machine; False (no event) when already there.

        `metadata` (a review outcome, for example) is merged into the task's metadata and kept
        in the event, because the workflow waiting on this task reads it.
        """
        timestamp = utc(at)
        if status not in STATUSES:
            raise InvalidValueError(
                f"{status!r} is not a task status; use one of {', '.join(STATUSES)}.",
                field="status",
            )
        given = json_object(metadata, field="metadata")
        if status == self._status:
            return False
        if status not in TRANSITIONS[self._status]:
            raise InvalidTransitionError(
                f"task {self.id} is {self._status}; it cannot become {status}."
            )
        self.trigger_event(
            self.StatusChanged,
            timestamp=timestamp,
            old_status=self._status,
            new_status=status,
            metadata=given,
            completed_at=timestamp.isoformat() if status == "done" else None,
            closed_at=timestamp.isoformat() if status in CLOSED else None,
        )
        return True

    def reassign(self, *, assigned_to: str, at: datetime) -> bool:
        self._require_not_cancelled("reassigned")
        timestamp = utc(at)
        new = _assignee(assigned_to)
        if new == self._assigned_to:
            return False
        self.trigger_event(
            self.Reassigned,
            timestamp=timestamp,
            old_assigned_to=self._assigned_to,
            new_assigned_to=new,
        )
        return True

    def set_due_date(self, *, due_date: datetime | None, at: datetime) -> bool:
        self._require_not_cancelled("rescheduled")
        timestamp = utc(at)
        new = None if due_date is None else iso(due_date, field="due_date")
        if new == self._due_date:
            return False
        self.trigger_event(
            self.DueDateSet, timestamp=timestamp, old_due_date=self._due_date, new_due_date=new
        )
        return True

    # -- state ---------------------------------------------------------------------------------

    @property
    def org_id(self) -> str:
        return self._org_id

    @property
    def title(self) -> str:
        return self._title

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def assigned_to(self) -> str:
        return self._assigned_to

    @property
    def priority(self) -> str:
        return self._priority

    @property
    def status(self) -> str:
        return self._status

    @property
    def due_date(self) -> datetime | None:
        return from_iso(self._due_date)

    @property
    def completed_at(self) -> datetime | None:
        return from_iso(self._completed_at)

    @property
    def closed_at(self) -> datetime | None:
        """When it was done or cancelled; None while it is open."""
        return from_iso(self._closed_at)

    @property
    def execution_id(self) -> str | None:
        return self._execution_id

    @property
    def step_id(self) -> str | None:
        return self._step_id

    @property
    def contact_id(self) -> str | None:
        return self._contact_id

    @property
    def metadata(self) -> dict[str, Any]:
        return copy.deepcopy(self._metadata)

    # -- helpers -------------------------------------------------------------------------------

    def _require_not_cancelled(self, verb: str) -> None:
        if self._status == "cancelled":
            raise InvalidTransitionError(f"task {self.id} is cancelled; it cannot be {verb}.")

    def _current(self, name: str) -> Any:
        return {
            "title": self._title,
            "description": self._description,
            "priority": self._priority,
            "metadata": self._metadata,
        }[name]

    def _normalised(self, name: str, value: Any) -> Any:
        if name == "title":
            return _title(value)
        if name == "description":
            return optional_text(value, field="description")
        if name == "priority":
            return _priority(value)
        if not isinstance(value, Mapping):
            raise InvalidValueError(f"metadata must be an object, not {value!r}.", field="metadata")
        return merge_object(self._metadata, json_object(value, field="metadata"))

    def _assign(self, name: str, value: Any) -> None:
        if name == "title":
            self._title = value
        elif name == "description":
            self._description = value
        elif name == "priority":
            self._priority = value
        elif name == "metadata":
            self._metadata = value


def _title(value: object) -> str:
    title = optional_text(value, field="title")
    if title is None:
        raise InvalidValueError("A task needs a title; it cannot be blank.", field="title")
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidValueError(
            f"The title is {len(title)} characters long; at most {MAX_TITLE_LENGTH} are allowed.",
            field="title",
        )
    return title


def _assignee(value: object) -> str:
    if not isinstance(value, str) or not _ASSIGNEE.fullmatch(value):
        raise InvalidValueError(
            f"{value!r} is not an assignee; use 'user:<id>' or 'role:<name>'.",
            field="assigned_to",
        )
    return value


def _priority(value: object) -> str:
    if value not in PRIORITIES:
        raise InvalidValueError(
            f"{value!r} is not a priority; use one of {', '.join(PRIORITIES)}.", field="priority"
        )
    assert isinstance(value, str)
    return value
