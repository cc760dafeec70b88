"""Writes rows into ``events`` exactly as the real writer does, for projection tests.

The real writer (application/store) appends under an EXCLUSIVE table lock with a NOTIFY in the
same transaction; so does `append`. `EventLog` hands out aggregate versions and a steadily
advancing clock so that sequences read like real ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

# The bulk generator lives with the rebuild benchmark, which may not import tests.
from bench.synthetic import append_synthetic as append_synthetic

AGGREGATE_TYPES = {
    "Contact": "contact",
    "Task": "task",
    "WorkflowDefinition": "workflow_definition",
    "WorkflowExecution": "workflow_execution",
}

_INSERT = (
    "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
    " event_type, topic, data, org_id, actor, source, correlation_id, command_id, occurred_at)"
    " SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::bigint[], %s::text[], %s::text[],"
    " %s::text[], %s::jsonb[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::timestamptz[])"
    " RETURNING position"
)


@dataclass(frozen=True)
class NewEvent:
    aggregate_id: UUID
    version: int
    event_type: str
    data: dict[str, Any]
    org_id: str
    occurred_at: datetime


@dataclass
class EventLog:
    """A builder of realistic event sequences (nothing is written until `append`)."""

    org_id: str = "org_a"
    clock: datetime = field(default_factory=lambda: datetime(2024, 5, 1, 9, 0, tzinfo=UTC))
    tick: timedelta = timedelta(seconds=1)
    """How far the clock moves per event; zero makes many rows share one created_at."""
    pending: list[NewEvent] = field(default_factory=list)
    versions: dict[UUID, int] = field(default_factory=dict)

    def add(
        self, aggregate_id: UUID, event_type: str, org: str | None = None, /, **data: Any
    ) -> NewEvent:
        """Queue one event; `org` is the metadata org (default: this log's org)."""
        self.clock += self.tick
        version = self.versions.get(aggregate_id, 0) + 1
        self.versions[aggregate_id] = version
        event = NewEvent(
            aggregate_id=aggregate_id,
            version=version,
            event_type=event_type,
            data={**data, "timestamp": self.clock.isoformat()},
            org_id=org or self.org_id,
            occurred_at=self.clock,
        )
        self.pending.append(event)
        return event

    def take(self) -> list[NewEvent]:
        events, self.pending = self.pending, []
        return events

    # -- realistic aggregates --------------------------------------------------------------------

    def contact(self, *, org_id: str | None = None, **fields: Any) -> UUID:
        contact_id = uuid.uuid4()
        org = org_id or self.org_id
        values: dict[str, Any] = {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "phone": None,
            "status": "active",
            "fields": {},
        }
        values.update(fields)
        self.add(contact_id, "Contact.Created", org, org_id=org, **values)
        return contact_id

    def task(self, *, org_id: str | None = None, **fields: Any) -> UUID:
        task_id = uuid.uuid4()
        org = org_id or self.org_id
        values: dict[str, Any] = {
            "title": "Review application",
            "description": None,
            "assigned_to": "role:admin",
            "priority": "medium",
            "due_date": None,
            "execution_id": None,
            "step_id": None,
            "contact_id": None,
            "metadata": {},
            "status": "todo",
        }
        values.update(fields)
        self.add(task_id, "Task.Assigned", org, org_id=org, **values)
        return task_id

    def definition(self, *, org_id: str | None = None, name: str = "Onboarding") -> UUID:
        definition_id = uuid.uuid4()
        org = org_id or self.org_id
        self.add(definition_id, "WorkflowDefinition.Created", org, org_id=org)
        self.publish(definition_id, version=1, name=name, org_id=org)
        return definition_id

    def publish(
        self, definition_id: UUID, *, version: int, name: str, org_id: str | None = None
    ) -> None:
        self.add(
            definition_id,
            "WorkflowDefinition.VersionPublished",
            org_id,
            version=version,
            name=name,
            description=f"{name} v{version}",
            statuses=[{"id": "approved", "label": "Approved", "color": "green"}],
            steps=[
                {"id": "step_1", "type": "trigger", "name": "Form", "config": {}},
                {"id": "step_2", "type": "assign_task", "name": f"Review v{version}", "config": {}},
            ],
            trigger={"type": "form_submission"},
        )

    def execution(
        self,
        *,
        definition_id: UUID,
        contact_id: UUID | None = None,
        org_id: str | None = None,
    ) -> UUID:
        execution_id = uuid.uuid4()
        org = org_id or self.org_id
        self.add(
            execution_id,
            "WorkflowExecution.Created",
            org,
            org_id=org,
            definition_id=str(definition_id),
            definition_version=1,
            contact_id=None if contact_id is None else str(contact_id),
            input={"payload": {"first_name": "Ada"}},
            workflow_id=f"execution-{execution_id}",
            trigger={"type": "form_submission"},
        )
        return execution_id


def append(database_url: str, events: Sequence[NewEvent]) -> list[int]:
    """Append `events` in one transaction, the way the real writer does; return positions."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("NOTIFY events")
        command_id = str(uuid.uuid4())
        rows = conn.execute(
            _INSERT,
            (
                [uuid.uuid4() for _ in events],
                [e.aggregate_id for e in events],
                [e.version for e in events],
                [AGGREGATE_TYPES[e.event_type.split(".")[0]] for e in events],
                [e.event_type for e in events],
                [f"domain.x:{e.event_type}" for e in events],
                [json.dumps(e.data) for e in events],
                [e.org_id for e in events],
                ["user:u1" for _ in events],
                ["test" for _ in events],
                [command_id for _ in events],
                [command_id for _ in events],
                [e.occurred_at for e in events],
            ),
        ).fetchall()
    return [row[0] for row in rows]


def append_unknown(database_url: str, count: int, *, org_id: str = "org_a") -> None:
    """`count` events of a type no projection handles, in one append (generate_series)."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("NOTIFY events")
        conn.execute(
            "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
            " event_type, topic, data, org_id, occurred_at)"
            " SELECT gen_random_uuid(), gen_random_uuid(), 1, 'audit_note', 'AuditNote.Written',"
            " 'domain.x:AuditNote.Written', '{}'::jsonb, %s, now()"
            " FROM generate_series(1, %s)",
            (org_id, count),
        )
