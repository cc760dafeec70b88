"""Reading events' personal data on the read side: decrypted, or erased.

Every reader of ``events`` here (the projections' batches, parked-event retries, the auditors'
items and past states) selects, with each event, the ``contact_keys`` row of the contact its
personal data belongs to (``KEY_JOIN``, ``KEY_COLUMNS``), in the same query: whether the contact
is erased is read in the same snapshot as the event, never from a cache, so an erased contact's
data never opens here. ``reveal_row`` then gives the event's data as the domain wrote it
(domain/personal.py).

The key rows are unwrapped with the master keys this process holds: ``hold_master_keys`` is
called by the processes' composition roots (the API, the projector, the CLI) with
BYTEDASH_MASTER_KEY (and the previous key during a rotation); outside production the
development key is held too, as the worker uses it when BYTEDASH_MASTER_KEY is unset.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.personal import (
    DEVELOPMENT_MASTER_KEY,
    ENVELOPE,
    KeyRow,
    Unwrapper,
    reveal,
)
from projections.json_text import loads

# Joined to `events` (unaliased) by every reader that reveals personal data.
KEY_JOIN = (
    " LEFT JOIN contact_keys pk ON pk.contact_id = (events.data->'_personal'->>'contact')::uuid"
)
KEY_COLUMNS = (
    "pk.org_id AS key_org_id, pk.wrapped_key AS key_wrapped, pk.master_key_id AS key_master"
)

_unwrapper = Unwrapper.from_master_keys(DEVELOPMENT_MASTER_KEY)


def hold_master_keys(*master_keys: bytes | None, production: bool) -> None:
    """The master keys this process opens contact keys with (None entries are skipped)."""
    global _unwrapper
    held = [key for key in master_keys if key is not None]
    if not production:
        held.append(DEVELOPMENT_MASTER_KEY)
    _unwrapper = Unwrapper.from_master_keys(*held)


def unwrapper() -> Unwrapper:
    return _unwrapper


def key_row(org_id: str | None, wrapped: Any, master_key_id: str | None) -> KeyRow | None:
    if org_id is None or master_key_id is None:
        return None
    return KeyRow(org_id, None if wrapped is None else bytes(wrapped), master_key_id)


def reveal_row(
    data: dict[str, Any],
    originator_id: UUID | str,
    version: int,
    org_id: str | None,
    wrapped: Any,
    master_key_id: str | None,
) -> dict[str, Any]:
    """`data` with its personal attributes decrypted, or erased; as it is without any."""
    if ENVELOPE not in data:
        return data
    row = key_row(org_id, wrapped, master_key_id)
    return reveal(data, originator_id, version, row, _unwrapper, loads)


def reveal_item(row: dict[str, Any]) -> dict[str, Any]:
    """The data of a dict row holding `KEY_COLUMNS` beside data, originator id and version."""
    return reveal_row(
        row["data"],
        row["originator_id"],
        row["originator_version"],
        row.get("key_org_id"),
        row.get("key_wrapped"),
        row.get("key_master"),
    )
