"""Helpers shared by the domain unit tests."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def at(minutes: float = 0) -> datetime:
    """A moment `minutes` after T0: commands take the time as an argument, never the clock."""
    return T0 + timedelta(minutes=minutes)


def _strict_json_mapper() -> Mapper[Any]:
    # Only the library's own `timestamp` may need a transcoding; a UUID, datetime or set
    # anywhere in an event's payload makes encoding fail, which is what these tests want.
    transcoder = JSONTranscoder()
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


def replay_through_json(events: Sequence[CanMutateAggregate[Any]]) -> Any:
    """Store each event as plain JSON, read it back, and rebuild the aggregate from the copies."""
    mapper = _strict_json_mapper()
    aggregate: Any = None
    for event in events:
        stored = mapper.to_stored_event(event)
        restored = mapper.to_domain_event(stored)
        assert isinstance(restored, CanMutateAggregate)
        aggregate = restored.mutate(aggregate)
    return aggregate


def rebuilt(aggregate: Aggregate) -> Any:
    """The aggregate rebuilt from its (collected) events after a JSON round trip.

    Pending events are collected from `aggregate`, so the two can be compared with ==.
    """
    events = aggregate.collect_events()
    return replay_through_json(events)


def onboarding_body() -> dict[str, Any]:
    """The docs/contract.md example, extended with the README's condition, status and email."""
    return copy.deepcopy(_ONBOARDING)


_ONBOARDING: dict[str, Any] = {
    "name": "Applicant Onboarding",
    "description": "Review applications submitted through the website form.",
    "statuses": [
        {"id": "approved", "label": "Approved", "color": "green"},
        {"id": "rejected", "label": "Rejected", "color": "red"},
    ],
    "steps": [
        {
            "id": "step_1",
            "type": "trigger",
            "name": "Form Submitted",
            "config": {
                "type": "form_submission",
                "contact": {
                    "first_name": "{{payload.first_name}}",
                    "email": "{{payload.email}}",
                },
            },
        },
        {
            "id": "step_2",
            "type": "assign_task",
            "name": "Assign Review Task",
            "config": {
                "title": "Review {{contact.first_name}}'s Application",
                "description": "Review submitted application and approve/reject",
                "assign_to": "role:admin",
                "priority": "medium",
                "due_date": "{{now + 3 days}}",
            },
        },
        {
            "id": "step_3",
            "type": "wait_for_task",
            "name": "Wait for Review",
            "config": {
                "task_from_step": "step_2",
                "timeout_days": 7,
                "on_timeout": "send_reminder",
            },
        },
        {
            "id": "step_4",
            "type": "condition",
            "name": "Check Review Outcome",
            "config": {
                "field": "{{step_3.task.metadata.outcome}}",
                "branches": [
                    {"if": "approved", "then_goto": "step_5"},
                    {"if": "rejected", "then_goto": "step_8"},
                ],
                "default": "step_5",
            },
        },
        {
            "id": "step_5",
            "type": "update_status",
            "name": "Mark as Approved",
            "config": {"status": "approved"},
        },
        {
            "id": "step_6",
            "type": "send_email",
            "name": "Send Approval Email",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Welcome aboard, {{contact.first_name}}",
                "body": "Your application was approved on {{now}}.",
            },
        },
        {
            "id": "step_7",
            "type": "update_task",
            "name": "Mark Task Urgent",
            "config": {
                "task_from_step": "step_2",
                "updates": {
                    "priority": "high",
                    "due_date": "{{now + 1 day}}",
                    "metadata": {"urgency": "critical"},
                },
            },
            "next": "end",
        },
        {
            "id": "step_8",
            "type": "update_status",
            "name": "Mark as Rejected",
            "config": {"status": "rejected"},
        },
    ],
}
