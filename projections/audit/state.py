"""``GET /aggregates/{type}/{id}/state``: an aggregate as it was at a time or a version.

"What did this contact look like last Tuesday?" is answered from the events, not from a read
model: read models hold only the present. The aggregate is rebuilt exactly as the write side
rebuilds it — the domain classes replay their own events through the eventsourcing library's
mapper with the store's plain-JSON codec (``domain.codec``) — so the answer cannot drift from
what the domain would have decided at that moment.

`as_of` compares with ``occurred_at`` (when the command ran, which is also the event's own
``timestamp``), not ``recorded_at``: the business time an auditor asks about.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from psycopg import Connection
from psycopg.rows import dict_row

from domain.codec import EventMapper, KeyedStoredEvent
from domain.errors import DomainError
from projections.audit.aggregates import aggregate_class
from projections.audit.items import as_uuid, iso, require_aware
from projections.personal import KEY_COLUMNS, KEY_JOIN, key_row, unwrapper

# Each event with its contact's key row (projections/personal.py): personal data decrypted, or
# erased, as the write side's own mapper reads it.
_EVENTS = (
    "SELECT originator_id, originator_version, topic, convert_to(data::text, 'UTF8') AS state,"
    f" {KEY_COLUMNS} FROM events{KEY_JOIN}"
    " WHERE originator_id = %s AND events.org_id = %s AND aggregate_type = %s"
)


def aggregate_state(
    conn: Connection[Any],
    org_id: str,
    aggregate_type: str,
    aggregate_id: object,
    *,
    as_of: datetime | None = None,
    version: int | None = None,
) -> dict[str, Any] | None:
    """The aggregate rebuilt from its events up to `as_of` (inclusive) or `version`.

    Neither: its current state. Returns None when nothing of it existed by then in `org_id`
    (before its first event, version 0, another org's or a malformed id). A `version` beyond the
    last gives the current state; the answer's ``version`` says which version it is.
    ValueError for an unknown type, a naive `as_of`, a negative version, or both at once.
    """
    cls = aggregate_class(aggregate_type)
    require_aware(as_of, "as_of")
    if as_of is not None and version is not None:
        raise ValueError("give as_of or version, not both")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 0
    ):
        raise ValueError(f"version must be an integer from 0 up, not {version!r}")
    key = as_uuid(aggregate_id)
    if key is None or version == 0:
        return None
    aggregate = _rebuild(conn, org_id, aggregate_type, key, as_of=as_of, version=version)
    if not isinstance(aggregate, cls):
        return None
    return {
        "aggregate_type": aggregate_type,
        "id": str(aggregate.id),
        "version": aggregate.version,
        "created_on": iso(aggregate.created_on),
        "modified_on": iso(aggregate.modified_on),
        **public_state(aggregate),
        "as_of": None if as_of is None else iso(as_of),
        "requested_version": version,
    }


def _rebuild(
    conn: Connection[Any],
    org_id: str,
    aggregate_type: str,
    key: UUID,
    *,
    as_of: datetime | None,
    version: int | None,
) -> Aggregate | None:
    query = _EVENTS
    params: list[Any] = [key, org_id, aggregate_type]
    if as_of is not None:
        query += " AND occurred_at <= %s"
        params.append(as_of)
    if version is not None:
        query += " AND originator_version <= %s"
        params.append(version)
    query += " ORDER BY originator_version"
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query.encode(), params)
        rows = cur.fetchall()
    mapper = EventMapper(unwrapper=unwrapper())
    events = [
        mapper.to_domain_event(
            KeyedStoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
                key_row=key_row(row["key_org_id"], row["key_wrapped"], row["key_master"]),
            )
        )
        for row in rows
    ]
    aggregate = project_aggregate(None, events)
    return aggregate if isinstance(aggregate, Aggregate) else None


def public_state(aggregate: Aggregate) -> dict[str, Any]:
    """Every public property the aggregate's domain class declares, JSON-ready.

    A property with no value yet at that point in history (a definition's ``name`` before its
    first version is published) is null rather than an error: the state is still a true answer.
    """
    state: dict[str, Any] = {}
    for name in public_properties(type(aggregate)):
        try:
            value = getattr(aggregate, name)
        except (LookupError, DomainError):
            value = None
        state[name] = json_ready(value)
    return state


@functools.cache
def public_properties(cls: type[Aggregate]) -> tuple[str, ...]:
    """Names of the public properties declared by the domain (not the library's base class)."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("domain."):
            continue
        for name, attribute in vars(klass).items():
            if isinstance(attribute, property) and not name.startswith("_") and name not in names:
                names.append(name)
    return tuple(names)


def json_ready(value: object) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    raise TypeError(f"aggregate state of type {type(value).__name__} has no JSON form")
