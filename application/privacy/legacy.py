"""Events that hold personal data in clear: what an erasure cannot reach.

Events written before personal data was encrypted (issue 13) carry names, emails, form answers
and task titles in their JSON as they were. They cannot be encrypted afterwards: the `events`
table refuses UPDATE (migrations 0003 and 0009), and the hash chain covers the stored bytes, so
a rewritten event would read as tampering to every auditor holding an anchor (docs/auditing.md).
The product therefore does not rewrite them. Erasing a contact whose history holds such events
destroys its key, scrubs the read models and ends its Temporal payloads as for any contact; the
clear events stay in the store, readable by whoever reads the table or the audit routes.

This module finds them, so that an operator knows before and after an erasure exactly which
events of which person it does not reach (`bytedash privacy legacy`). An event is counted when
its class declares personal attributes (`personal_data`, domain/personal.py), it has no sealed
envelope (`_personal`), and at least one of those attributes holds a value; that includes an
event written after encryption for an aggregate no contact owns (an execution that failed
before its contact existed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eventsourcing.utils import resolve_topic
from psycopg import Connection
from psycopg.rows import DictRow

from domain.personal import ENVELOPE, personal_attributes

_TOPICS = "SELECT DISTINCT topic FROM events"
_CLEAR = (
    "SELECT org_id, event_type, count(*) AS events, count(DISTINCT originator_id) AS aggregates,"
    " min(position) AS first_position, max(position) AS last_position,"
    " CASE WHEN %s THEN array_agg(position ORDER BY position) END AS positions"
    " FROM events WHERE topic = %s AND NOT data ? %s"
    " AND EXISTS (SELECT 1 FROM jsonb_each(data) AS a(k, v)"
    "   WHERE a.k = ANY(%s)"
    "   AND a.v NOT IN ('null'::jsonb, '{}'::jsonb, '[]'::jsonb, '\"\"'::jsonb))"
)
_LINEAGE = (
    "SELECT originator_id::text AS id, event_type FROM events"
    " WHERE org_id = %s AND data->>'contact_id' = %s"
    " AND event_type IN ('WorkflowExecution.Created', 'Task.Assigned')"
)


@dataclass(frozen=True)
class ClearEvents:
    org_id: str
    event_type: str
    events: int
    aggregates: int
    first_position: int
    last_position: int
    positions: list[int] = field(default_factory=list)
    """With a contact: the positions themselves."""


def personal_topics(conn: Connection[DictRow]) -> dict[str, tuple[str, ...]]:
    """The stored topics whose event class declares personal attributes, with them."""
    found: dict[str, tuple[str, ...]] = {}
    for row in conn.execute(_TOPICS).fetchall():
        topic = str(row["topic"])
        try:
            attributes = personal_attributes(resolve_topic(topic))
        except Exception:  # a topic no class answers to any more: nothing to say about it
            continue
        if attributes:
            found[topic] = attributes
    return found


def clear_events(
    conn: Connection[DictRow], *, org_id: str | None = None, contact_id: str | None = None
) -> list[ClearEvents]:
    """Events holding personal data in clear, by org and type; with `contact_id` (and its
    `org_id`), only those of the contact's lineage (the contact, its executions, their tasks),
    with their positions."""
    scope = ""
    args: list[object] = []
    if org_id is not None:
        scope = " AND org_id = %s"
        args.append(org_id)
    if contact_id is not None:
        if org_id is None:
            raise ValueError("a contact is looked up within its org: give the org too")
        linked = conn.execute(_LINEAGE, (org_id, contact_id)).fetchall()
        executions = [r["id"] for r in linked if r["event_type"] == "WorkflowExecution.Created"]
        tasks = conn.execute(
            "SELECT originator_id::text AS id FROM events WHERE org_id = %s"
            " AND data->>'execution_id' = ANY(%s) AND event_type = 'Task.Assigned'",
            (org_id, executions),
        ).fetchall()
        ids = sorted({contact_id, *(r["id"] for r in linked), *(r["id"] for r in tasks)})
        scope += " AND originator_id = ANY(%s::uuid[])"
        args.append(ids)
    found: list[ClearEvents] = []
    for topic, attributes in sorted(personal_topics(conn).items()):
        query = _CLEAR + scope + " GROUP BY org_id, event_type"
        params = (contact_id is not None, topic, ENVELOPE, list(attributes), *args)
        found.extend(_item(row) for row in conn.execute(query, params).fetchall())
    return sorted(found, key=lambda c: (c.org_id, c.first_position))


def _item(row: DictRow) -> ClearEvents:
    return ClearEvents(
        org_id=str(row["org_id"]),
        event_type=str(row["event_type"]),
        events=int(row["events"]),
        aggregates=int(row["aggregates"]),
        first_position=int(row["first_position"]),
        last_position=int(row["last_position"]),
        positions=[int(p) for p in row["positions"] or []],
    )
