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
        conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
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
        conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        conn.execute("NOTIFY events")
        conn.execute(
            "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
            " event_type, topic, data, org_id, occurred_at)"
            " SELECT gen_random_uuid(), gen_random_uuid(), 1, 'audit_note', 'AuditNote.Written',"
            " 'domain.x:AuditNote.Written', '{}'::jsonb, %s, now()"
            " FROM generate_series(1, %s)",
            (org_id, count),
        )


# Ten events per unit: a contact (3), a task (2) and an execution that runs one step (5),
# spread over ten orgs. Realistic in shape and mix, generated in SQL so 100,000 take seconds.
_SYNTHETIC = """
INSERT INTO events (event_id, originator_id, originator_version, aggregate_type, event_type,
                    topic, data, org_id, occurred_at)
SELECT gen_random_uuid(), md5(%(seed)s || k.agg || i)::uuid, k.ver, k.atype, k.etype,
       'domain.x:' || k.etype,
       CASE k.etype
         WHEN 'Contact.Created' THEN jsonb_build_object(
           'org_id', 'org_' || i %% 10, 'first_name', 'First' || i, 'last_name', 'Last' || i,
           'email', 'person' || i || '@example.com', 'phone', NULL, 'status', 'lead',
           'fields', jsonb_build_object('source', 'web', 'score', i %% 100))
         WHEN 'Contact.FieldsUpdated' THEN jsonb_build_object('changes', jsonb_build_object(
           'phone', jsonb_build_object('old', NULL, 'new', '+1555' || i)))
         WHEN 'Contact.StatusChanged' THEN
           jsonb_build_object('old_status', 'lead', 'new_status', 'active')
         WHEN 'Task.Assigned' THEN jsonb_build_object(
           'org_id', 'org_' || i %% 10, 'title', 'Review ' || i, 'description', NULL,
           'assigned_to', 'role:admin', 'priority', 'medium',
           'due_date', '2024-06-01T00:00:00+00:00', 'execution_id', md5(%(seed)s || 'e' || i)::uuid,
           'step_id', 'step_2', 'contact_id', md5(%(seed)s || 'c' || i)::uuid,
           'metadata', '{}'::jsonb, 'status', 'todo')
         WHEN 'Task.StatusChanged' THEN jsonb_build_object(
           'old_status', 'todo', 'new_status', 'done',
           'metadata', jsonb_build_object('outcome', 'approved'),
           'completed_at', '2024-05-02T00:00:00+00:00')
         WHEN 'WorkflowExecution.Created' THEN jsonb_build_object(
           'org_id', 'org_' || i %% 10, 'definition_id', md5(%(seed)s || 'd')::uuid,
           'definition_version', 1, 'contact_id', md5(%(seed)s || 'c' || i)::uuid,
           'input', jsonb_build_object('payload', jsonb_build_object('n', i)),
           'workflow_id', 'execution-' || i, 'trigger', jsonb_build_object('type', 'webhook'))
         WHEN 'WorkflowExecution.Started' THEN jsonb_build_object('workflow_run_id', 'run-' || i)
         WHEN 'WorkflowExecution.StepStarted' THEN jsonb_build_object(
           'step_id', 'step_2', 'step_type', 'assign_task', 'step_name', 'Review')
         WHEN 'WorkflowExecution.StepCompleted' THEN jsonb_build_object(
           'step_id', 'step_2', 'output', jsonb_build_object('task_id', 'x'))
         ELSE jsonb_build_object('output', '{}'::jsonb)
       END || jsonb_build_object('timestamp', '2024-05-01T00:00:00+00:00'),
       'org_' || i %% 10,
       timestamptz '2024-05-01 00:00:00+00' + i * interval '1 second' + k.ord * interval '1 ms'
FROM generate_series(1, %(units)s) AS i,
     (VALUES (1, 'c', 1, 'contact', 'Contact.Created'),
             (2, 'e', 1, 'workflow_execution', 'WorkflowExecution.Created'),
             (3, 'e', 2, 'workflow_execution', 'WorkflowExecution.Started'),
             (4, 'e', 3, 'workflow_execution', 'WorkflowExecution.StepStarted'),
             (5, 't', 1, 'task', 'Task.Assigned'),
             (6, 'c', 2, 'contact', 'Contact.FieldsUpdated'),
             (7, 't', 2, 'task', 'Task.StatusChanged'),
             (8, 'e', 4, 'workflow_execution', 'WorkflowExecution.StepCompleted'),
             (9, 'c', 3, 'contact', 'Contact.StatusChanged'),
             (10, 'e', 5, 'workflow_execution', 'WorkflowExecution.Completed'))
       AS k(ord, agg, ver, atype, etype)
ORDER BY i, k.ord
"""


def append_synthetic(database_url: str, units: int, *, seed: str = "s") -> int:
    """Append `units` * 10 realistic events (see _SYNTHETIC); return how many."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        conn.execute("NOTIFY events")
        conn.execute(_SYNTHETIC, {"units": units, "seed": seed})
    return units * 10
