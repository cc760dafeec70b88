"""Contacts' data keys (table ``contact_keys``, migration 0013): made, found, destroyed.

Each contact whose personal data an event carries has a random 32-byte AES-256-GCM key, stored
only wrapped: AES-256-GCM under ``derive_key(master key, CONTACT_WRAP_INFO)`` with
``"<org>\\x1f<contact id>"`` as associated data, and the master key's fingerprint beside it.
Erasing the contact (``destroy``) sets the wrapped key to NULL and records who, when and why;
no key is ever made again for that contact, so events written later carry only the erased
shape of their personal data.

The write path asks for keys once per save for every contact of the save (``keys_for``: one
statement that finds and, when asked, creates them). Keys are cached in the process for
``cache_seconds`` (5 s by default), an erased contact for good: a key destroyed in another
process is used for at most that long here, and ``destroy`` drops it from this process's cache
at once. Writing with a key destroyed meanwhile loses nothing: what it seals is unreadable,
i.e. erased. Readers of events do not use this cache: they read the key row with the event
(application/store/recorder.py, projections/personal.py), so they never open data of an
erased contact.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from application.secrets import KEY_BYTES, derive_key, master_key_id, seal
from application.store.recorder import NewKeys
from domain.personal import CONTACT_WRAP_INFO, KeyRow, Unwrapper, wrap_aad

CACHE_SECONDS = 5.0

_FIND = (
    "SELECT org_id, contact_id, wrapped_key, master_key_id FROM contact_keys"
    " WHERE contact_id = ANY(%s::uuid[])"
)
# Finds the keys that exist and inserts the missing ones in one round trip. The SELECT does not
# see the CTE's inserts (one snapshot), hence the UNION; a key inserted meanwhile by another
# transaction shows in neither part and is read again by _FIND.
_FIND_OR_CREATE = (
    "WITH ins AS ("
    " INSERT INTO contact_keys (org_id, contact_id, wrapped_key, master_key_id)"
    " SELECT %s, w.contact_id, w.wrapped, %s FROM unnest(%s::uuid[], %s::bytea[])"
    " AS w(contact_id, wrapped)"
    " ON CONFLICT (contact_id) DO NOTHING"
    " RETURNING org_id, contact_id, wrapped_key, master_key_id)"
    " SELECT org_id, contact_id, wrapped_key, master_key_id FROM ins"
    " UNION ALL"
    " SELECT org_id, contact_id, wrapped_key, master_key_id FROM contact_keys"
    " WHERE contact_id = ANY(%s::uuid[]) AND contact_id NOT IN (SELECT contact_id FROM ins)"
)
# Erasing: an existing key row loses its key; a contact with no row yet (its events were all
# written in clear, before encryption) gets an erased row, so no key is ever made for it.
_DESTROY = (
    "INSERT INTO contact_keys AS k (org_id, contact_id, wrapped_key, master_key_id, erased_at,"
    " erased_by, erase_reason) VALUES (%s, %s, NULL, %s, %s, %s, %s)"
    " ON CONFLICT (contact_id) DO UPDATE SET wrapped_key = NULL, erased_at = excluded.erased_at,"
    " erased_by = excluded.erased_by, erase_reason = excluded.erase_reason"
    " WHERE k.wrapped_key IS NOT NULL AND k.org_id = excluded.org_id"
    " RETURNING contact_id"
)
_ERASURE = (
    "SELECT org_id, erased_at, erased_by, erase_reason FROM contact_keys"
    " WHERE contact_id = %s AND wrapped_key IS NULL"
)


class ContactKeyError(Exception):
    """A contact's key cannot be used: it belongs to another org, or does not open."""


@dataclass(frozen=True)
class Erasure:
    """When, by whom and why a contact's key was destroyed."""

    org_id: str
    erased_at: datetime
    erased_by: str | None
    reason: str | None


class ContactKeys:
    """The contact keys over the event store's connection pool (see the module docstring)."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        master_key: bytes,
        *,
        previous_master_key: bytes | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._datastore = datastore
        self._wrapping_key = derive_key(master_key, CONTACT_WRAP_INFO)
        self._master_key_id = master_key_id(master_key)
        held = [master_key] + ([previous_master_key] if previous_master_key else [])
        self.unwrapper = Unwrapper(
            {master_key_id(m): derive_key(m, CONTACT_WRAP_INFO) for m in held}
        )
        self._cache_seconds = cache_seconds
        # contact id -> (org, key or None when erased, monotonic expiry; inf when erased)
        self._cache: dict[UUID, tuple[str, bytes | None, float]] = {}
        self._lock = threading.Lock()

    @property
    def master_key_id(self) -> str:
        return self._master_key_id

    def key_for(self, org_id: str, contact_id: UUID, *, create: bool = True) -> bytes | None:
        """The contact's data key (made when missing and `create`); None once it is erased, or
        when it has none and `create` is false."""
        return self.keys_for(org_id, [contact_id], create=create).get(contact_id)

    def keys_for(
        self, org_id: str, contact_ids: Iterable[UUID], *, create: bool = True
    ) -> dict[UUID, bytes | None]:
        """`key_for` of several contacts of one org with at most two round trips (usually one,
        none when all are cached)."""
        now = monotonic()
        found: dict[UUID, bytes | None] = {}
        missing: list[UUID] = []
        with self._lock:
            for contact_id in set(contact_ids):
                cached = self._cache.get(contact_id)
                if cached is not None and cached[2] > now:
                    self._check_org(org_id, contact_id, cached[0])
                    found[contact_id] = cached[1]
                else:
                    missing.append(contact_id)
        if missing:
            rows = self._load(org_id, missing, create=create)
            for contact_id in missing:
                row = rows.get(contact_id)
                if row is None:
                    found[contact_id] = None
                    continue
                self._check_org(org_id, contact_id, row.org_id)
                key = self.unwrapper.key(contact_id, row)
                found[contact_id] = key
                expiry = now + self._cache_seconds if key is not None else float("inf")
                with self._lock:
                    self._cache[contact_id] = (row.org_id, key, expiry)
        return found

    def make(self, org_id: str, contact_ids: Iterable[UUID]) -> tuple[dict[UUID, bytes], NewKeys]:
        """New keys for contacts that have none yet, made and wrapped here but not stored: the
        append of the events they seal stores them (application/store/personal.py), so a new
        contact's first save is one statement. ``remember`` them once that append succeeded."""
        keys: dict[UUID, bytes] = {}
        wrapped: list[bytes] = []
        for contact_id in dict.fromkeys(contact_ids):
            keys[contact_id] = os.urandom(KEY_BYTES)
            wrapped.append(seal(self._wrapping_key, keys[contact_id], wrap_aad(org_id, contact_id)))
        return keys, NewKeys(list(keys), wrapped, self._master_key_id)

    def remember(self, org_id: str, keys: dict[UUID, bytes]) -> None:
        """Cache keys that ``make`` made and an append stored."""
        expiry = monotonic() + self._cache_seconds
        with self._lock:
            for contact_id, key in keys.items():
                self._cache[contact_id] = (org_id, key, expiry)

    def cached(self, contact_id: UUID) -> bool:
        """Whether this process knows the contact's key (or its erasure) without a lookup."""
        entry = self._cache.get(contact_id)
        return entry is not None and entry[2] > monotonic()

    def destroy(
        self, org_id: str, contact_id: UUID, by: str | None, reason: str, at: datetime
    ) -> bool:
        """Destroy the contact's key (erasure); False when it was already destroyed."""
        with self._lock:
            self._cache[contact_id] = (org_id, None, float("inf"))
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_DESTROY, (org_id, contact_id, self._master_key_id, at, by, reason))
            return curs.fetchone() is not None

    def erasure(self, contact_id: UUID) -> Erasure | None:
        """The erasure record of the contact, if it was erased."""
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_ERASURE, (contact_id,))
            row = curs.fetchone()
        if row is None:
            return None
        return Erasure(row["org_id"], row["erased_at"], row["erased_by"], row["erase_reason"])

    def forget(self, contact_ids: Collection[UUID] | None = None) -> None:
        """Drop cached keys (all of them by default): the next use reads the table again."""
        with self._lock:
            if contact_ids is None:
                self._cache.clear()
            else:
                for contact_id in contact_ids:
                    self._cache.pop(contact_id, None)

    # -- internals -------------------------------------------------------------------------

    def _load(self, org_id: str, contact_ids: list[UUID], *, create: bool) -> dict[UUID, KeyRow]:
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            if create:
                wrapped = [
                    seal(self._wrapping_key, os.urandom(KEY_BYTES), wrap_aad(org_id, contact_id))
                    for contact_id in contact_ids
                ]
                curs.execute(
                    _FIND_OR_CREATE,
                    (org_id, self._master_key_id, contact_ids, wrapped, contact_ids),
                    prepare=True,
                )
            else:
                curs.execute(_FIND, (contact_ids,), prepare=True)
            rows = {_uuid(row["contact_id"]): _key_row(row) for row in curs.fetchall()}
            absent = [contact_id for contact_id in contact_ids if contact_id not in rows]
            if create and absent:
                # Inserted by a concurrent transaction after this statement's snapshot.
                curs.execute(_FIND, (absent,), prepare=True)
                rows.update({_uuid(row["contact_id"]): _key_row(row) for row in curs.fetchall()})
        return rows

    @staticmethod
    def _check_org(org_id: str, contact_id: UUID, owner: str) -> None:
        if owner != org_id:
            raise ContactKeyError(
                f"contact {contact_id} belongs to another org than {org_id}: its personal data "
                "cannot be written for this org"
            )


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _key_row(row: Any) -> KeyRow:
    wrapped = row["wrapped_key"]
    return KeyRow(
        str(row["org_id"]), None if wrapped is None else bytes(wrapped), str(row["master_key_id"])
    )
