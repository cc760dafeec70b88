"""The event item auditors see, built from one ``events`` row (docs/contract.md, "Auditors").

Items are JSON-ready (ids as strings, times as ISO 8601 strings in UTC) rather
than the UUID and datetime objects the read-model queries return, because auditors' tooling
mostly writes them straight out: ``GET /events`` as ndjson and ``bytedash events export`` are
one ``json.dumps`` per item, with no encoder to agree on.

`data` is the event as recorded, including the library's own fields (``timestamp`` on every
event, ``originator_topic`` on creation events): an auditor compares what was recorded, so
nothing is dropped or renamed on the way out. Personal attributes, stored sealed under their
contact's key (docs/event-store.md, "Personal data"), are shown decrypted, or as erased once the
contact was erased; the hash chain covers the stored (sealed) bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from projections.personal import reveal_item

_KEY_SUBSELECT = (
    "(SELECT pk.{} FROM contact_keys pk"
    " WHERE pk.contact_id = (events.data->'_personal'->>'contact')::uuid)"
)
# The columns every item query selects, in the order `event_item` reads them.
ITEM_COLUMNS = (
    "position, event_id, aggregate_type, originator_id, originator_version, event_type,"
    " occurred_at, recorded_at, data, org_id, actor, source, workflow_id, workflow_run_id,"
    " workflow_type, activity_id, correlation_id, causation_id, command_id,"
    # The event's link in the chain (migration 0009), null until the sealer reaches it.
    " (SELECT c.hash FROM event_chain c WHERE c.position = events.position) AS hash,"
    # The key row of the contact whose personal data the event carries, read with the event:
    # `data` shows that data decrypted, or erased (projections/personal.py).
    f" {_KEY_SUBSELECT.format('org_id')} AS key_org_id,"
    f" {_KEY_SUBSELECT.format('wrapped_key')} AS key_wrapped,"
    f" {_KEY_SUBSELECT.format('master_key_id')} AS key_master"
)

METADATA_FIELDS = (
    "org_id",
    "actor",
    "source",
    "workflow_id",
    "workflow_run_id",
    "workflow_type",
    "activity_id",
    "correlation_id",
    "causation_id",
    "command_id",
)


def event_item(row: dict[str, Any]) -> dict[str, Any]:
    """One event in the contract's shape, from a dict row holding `ITEM_COLUMNS`."""
    digest = row["hash"]
    return {
        "position": row["position"],
        "event_id": str(row["event_id"]),
        "aggregate_type": row["aggregate_type"],
        "aggregate_id": str(row["originator_id"]),
        "aggregate_version": row["originator_version"],
        "event_type": row["event_type"],
        "occurred_at": iso(row["occurred_at"]),
        "recorded_at": iso(row["recorded_at"]),
        "data": reveal_item(row),
        "metadata": {name: row[name] for name in METADATA_FIELDS},
        "hash": None if digest is None else bytes(digest).hex(),
    }


def iso(value: datetime) -> str:
    """In UTC whatever the session's TimeZone, so the same event always prints the same."""
    return value.astimezone(UTC).isoformat()


def as_uuid(value: object) -> UUID | None:
    """`value` as a UUID, or None when it cannot be one (an id that cannot match any row)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def require_aware(value: datetime | None, name: str) -> datetime | None:
    """Refuse a naive datetime: "since 09:00" means nothing until it says in which zone."""
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must carry a timezone (an ISO time with Z or +HH:MM)")
    if value is not None:
        # 9999-12-31T23:59:59-14:00 is a valid datetime with no UTC counterpart: the state
        # rebuild compares in UTC, and the answer prints it in UTC.
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{name} is out of range once converted to UTC") from None
    return value
