"""The ``definitions`` read model: one row per workflow definition plus every published version.

The definition row says what the definition is now (latest version's name, whether and which
version is active); ``definition_versions`` keeps each published body unchanged forever, because
running executions keep the version they started with and the API serves ``?version=N``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection, sql

from projections.events import RecordedEvent
from projections.rows import Column, Row, RowProjection, dump_json, require, touched

NAME = "definitions"
CREATED = "WorkflowDefinition.Created"
VERSION_PUBLISHED = "WorkflowDefinition.VersionPublished"
ACTIVATED = "WorkflowDefinition.Activated"
DEACTIVATED = "WorkflowDefinition.Deactivated"
WEBHOOK_SECRET_ROTATED = "WorkflowDefinition.WebhookSecretRotated"

COLUMNS = (
    Column("id", "uuid"),
    Column("org_id", "text"),
    Column("name", "text"),
    Column("description", "text"),
    Column("current_version", "int4"),
    Column("is_active", "bool"),
    Column("active_version", "int4"),
    Column("webhook_secret_generation", "int4"),
    Column("created_at", "timestamptz"),
    Column("updated_at", "timestamptz"),
    Column("version", "int4"),
)

_INSERT_VERSIONS = (
    "INSERT INTO {} (definition_id, version, org_id, name, description, statuses, steps,"
    " trigger, published_at)"
    " SELECT u.definition_id, u.version, u.org_id, u.name, u.description, u.statuses::jsonb,"
    " u.steps::jsonb, u.trigger::jsonb, u.published_at"
    " FROM unnest(%s::uuid[], %s::int4[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::timestamptz[])"
    " AS u(definition_id, version, org_id, name, description, statuses, steps, trigger,"
    " published_at)"
    # Versions are immutable: a second copy of one (which exactly-once already prevents) would
    # be the same body, so keeping the first is correct.
    " ON CONFLICT (definition_id, version) DO NOTHING"
)


def created(row: Row | None, event: RecordedEvent) -> Row:
    return {
        "id": event.originator_id,
        "org_id": event.data.get("org_id") or event.org_id,
        "name": None,
        "description": None,
        "current_version": None,
        "is_active": False,
        "active_version": None,
        "webhook_secret_generation": 1,
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "version": event.originator_version,
    }


def version_published(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["name"] = event.data.get("name")
    new["description"] = event.data.get("description")
    new["current_version"] = int(event.data["version"])
    return new


def activated(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["is_active"] = True
    new["active_version"] = int(event.data["version"])
    return new


def deactivated(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["is_active"] = False
    new["active_version"] = None
    return new


def webhook_secret_rotated(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["webhook_secret_generation"] = int(event.data["generation"])
    return new


def version_row(org_id: str, event: RecordedEvent) -> Row:
    """The ``definition_versions`` row that a VersionPublished event adds."""
    data = event.data
    return {
        "definition_id": event.originator_id,
        "version": int(data["version"]),
        "org_id": org_id,
        "name": data.get("name") or "",
        "description": data.get("description"),
        "statuses": data.get("statuses") or [],
        "steps": data.get("steps") or [],
        "trigger": data.get("trigger"),
        "published_at": event.occurred_at,
    }


HANDLERS = {
    CREATED: created,
    VERSION_PUBLISHED: version_published,
    ACTIVATED: activated,
    DEACTIVATED: deactivated,
    WEBHOOK_SECRET_ROTATED: webhook_secret_rotated,
}


class DefinitionsProjection(RowProjection):
    """Definition rows, plus an insert of each newly published version's body."""

    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            table="definitions",
            columns=COLUMNS,
            handlers=HANDLERS,
            extra_tables=("definition_versions",),
        )

    def after_store(
        self, conn: Connection[Any], rows: Mapping[UUID, Row], applied: Sequence[RecordedEvent]
    ) -> None:
        versions = [
            version_row(rows[event.originator_id]["org_id"], event)
            for event in applied
            if event.event_type == VERSION_PUBLISHED
        ]
        if not versions:
            return
        conn.execute(
            sql.SQL(_INSERT_VERSIONS).format(self.tables.ident("definition_versions")),
            (
                [v["definition_id"] for v in versions],
                [v["version"] for v in versions],
                [v["org_id"] for v in versions],
                [v["name"] for v in versions],
                [v["description"] for v in versions],
                [dump_json(v["statuses"]) for v in versions],
                [dump_json(v["steps"]) for v in versions],
                [dump_json(v["trigger"]) for v in versions],
                [v["published_at"] for v in versions],
            ),
        )


def definitions_projection() -> DefinitionsProjection:
    return DefinitionsProjection()
