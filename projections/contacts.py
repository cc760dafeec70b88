"""The ``contacts`` read model: one row per contact, as the API lists and shows them."""

from __future__ import annotations

from domain.personal import ERASED, erased, shape
from projections.events import RecordedEvent
from projections.rows import Column, Row, RowProjection, require, touched

NAME = "contacts"
CREATED = "Contact.Created"
FIELDS_UPDATED = "Contact.FieldsUpdated"
STATUS_CHANGED = "Contact.StatusChanged"
ARCHIVED = "Contact.Archived"
ERASED_EVENT = "Contact.Erased"

COLUMNS = (
    Column("id", "uuid"),
    Column("org_id", "text"),
    Column("first_name", "text"),
    Column("last_name", "text"),
    Column("email", "text"),
    Column("phone", "text"),
    Column("status", "text"),
    Column("fields", "jsonb"),
    Column("archived", "bool"),
    Column("archived_reason", "text"),
    Column("created_at", "timestamptz"),
    Column("updated_at", "timestamptz"),
    Column("version", "int4"),
)
# FieldsUpdated may only name these; anything else is ignored rather than written to a column.
UPDATABLE = frozenset({"first_name", "last_name", "email", "phone", "fields"})


def created(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    return {
        "id": event.originator_id,
        "org_id": data.get("org_id") or event.org_id,
        "first_name": data.get("first_name"),
        "last_name": data.get("last_name"),
        "email": data.get("email"),
        "phone": data.get("phone"),
        "status": data.get("status") or "active",
        "fields": data.get("fields") or {},
        "archived": False,
        "archived_reason": None,
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "version": event.originator_version,
    }


def fields_updated(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    for name, change in event.data["changes"].items():
        if name in UPDATABLE:
            value = change["new"]
            new[name] = (value or {}) if name == "fields" else value
    return new


def status_changed(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["status"] = event.data["new_status"]
    return new


def archived(row: Row | None, event: RecordedEvent) -> Row:
    new = touched(require(row, event), event)
    new["archived"] = True
    new["archived_reason"] = event.data.get("reason")
    return new


def erased_contact(row: Row | None, event: RecordedEvent) -> Row:
    """Every personal column reads as erased, even from events stored in clear before
    encryption; the other rows carrying the contact's data are rewritten by the projection
    (RowProjection.rewrite_erased)."""
    new = touched(require(row, event), event)
    for name in ("first_name", "last_name", "email", "phone"):
        new[name] = ERASED
    new["fields"] = erased(shape(new["fields"] or {}))
    return new


HANDLERS = {
    CREATED: created,
    FIELDS_UPDATED: fields_updated,
    STATUS_CHANGED: status_changed,
    ARCHIVED: archived,
    ERASED_EVENT: erased_contact,
}


def contacts_projection() -> RowProjection:
    return RowProjection(
        name=NAME, table="contacts", columns=COLUMNS, handlers=HANDLERS, erasable=True
    )
