"""The secret store: each org's secret values, encrypted at rest with a key of the org's own.

Envelope encryption (AES-256-GCM, a key per organization; docs/operations.md, "Secrets"):

* the **master key** (BYTEDASH_MASTER_KEY, 32 bytes) never encrypts data itself; HKDF-SHA256
  derives from it the *wrapping key*;
* each org has a random 32-byte **data key**, stored only wrapped (AES-256-GCM under the
  wrapping key, the org id as associated data) in `org_data_keys`;
* each value is AES-256-GCM under its org's data key, with "<org>\\x1f<name>" as associated
  data, in `secret_values`: a ciphertext moved to another name or org does not decrypt.

So the database alone (a dump, a replica, a backup) reveals no value, and one org's data key
opens nothing of another's. Rows carry the master key's fingerprint, so a process started with
the wrong BYTEDASH_MASTER_KEY says so instead of failing with a bare authentication error.

Values are written by the worker's secret service (after the `Secret.ValueSet` event, with its
aggregate version as `revision`, so a late retry never replaces a newer value) and read by the
outbound activities (`values`), just before a call; the API reads only names and who set them
when (projections.queries.secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.postgres import PostgresDatastore

KEY_BYTES = 32
NONCE_BYTES = 12
# HKDF info of the key that wraps org data keys (also what `bytedash keys rotate` re-wraps with).
WRAP_INFO = b"bytedash secrets: wrapping org data keys v1"


class SecretStoreError(Exception):
    """The store cannot decrypt what it holds (a wrong or changed master key, a damaged row)."""


def derive_key(master_key: bytes, info: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the master key (HKDF-SHA256)."""
    if len(master_key) != KEY_BYTES:
        raise ValueError(f"the master key must be {KEY_BYTES} bytes, not {len(master_key)}")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(
        master_key
    )


def master_key_id(master_key: bytes) -> str:
    """A fingerprint that names the master key without revealing it."""
    return hmac.new(master_key, b"bytedash master key id", hashlib.sha256).hexdigest()[:16]


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """nonce || AES-256-GCM(ciphertext || tag)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """The plaintext of `seal`; raises InvalidTag when the key or associated data differ."""
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)


def _value_aad(org_id: str, name: str) -> bytes:
    return f"{org_id}\x1f{name}".encode()


_DATA_KEY = "SELECT wrapped_key, master_key_id FROM org_data_keys WHERE org_id = %s"
_NEW_DATA_KEY = (
    "INSERT INTO org_data_keys (org_id, wrapped_key, master_key_id) VALUES (%s, %s, %s)"
    " ON CONFLICT (org_id) DO NOTHING"
)
_PUT = (
    "INSERT INTO secret_values (org_id, name, ciphertext, revision, set_by, set_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (org_id, name) DO UPDATE SET ciphertext = excluded.ciphertext,"
    " revision = excluded.revision, set_by = excluded.set_by, set_at = excluded.set_at"
    " WHERE secret_values.revision <= excluded.revision"
)
_DELETE = "DELETE FROM secret_values WHERE org_id = %s AND name = %s AND revision < %s"
_VALUES = "SELECT name, ciphertext FROM secret_values WHERE org_id = %s AND name = ANY(%s)"
_NAMES = "SELECT name FROM secret_values WHERE org_id = %s ORDER BY name"


class SecretStore:
    """Reads and writes the secret tables over the event store's connection pool."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        master_key: bytes,
        previous_master_key: bytes | None = None,
    ) -> None:
        """`previous_master_key` (BYTEDASH_MASTER_KEY_PREVIOUS, during a master key rotation)
        opens the data keys the rotation has not re-wrapped yet; new ones are wrapped by
        `master_key` only."""
        self._datastore = datastore
        self._wrapping_key = derive_key(master_key, WRAP_INFO)
        self._master_key_id = master_key_id(master_key)
        self._wrapping_keys = {self._master_key_id: self._wrapping_key}
        if previous_master_key is not None:
            previous = master_key_id(previous_master_key)
            self._wrapping_keys[previous] = derive_key(previous_master_key, WRAP_INFO)

    # -- data keys -----------------------------------------------------------------------------

    def _data_key(self, org_id: str, *, create: bool) -> bytes | None:
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_DATA_KEY, (org_id,))
            row = curs.fetchone()
            if row is None:
                if not create:
                    return None
                key = os.urandom(KEY_BYTES)
                wrapped = seal(self._wrapping_key, key, org_id.encode())
                # Two first writers of one org race here; the loser reads the winner's key.
                curs.execute(_NEW_DATA_KEY, (org_id, wrapped, self._master_key_id))
                curs.execute(_DATA_KEY, (org_id,))
                row = curs.fetchone()
                assert row is not None
        wrapping = self._wrapping_keys.get(row["master_key_id"])
        if wrapping is None:
            raise SecretStoreError(
                f"the data key of org {org_id} was wrapped by master key {row['master_key_id']}, "
                f"but this process has master key {self._master_key_id}: set the "
                "BYTEDASH_MASTER_KEY the secrets were stored with"
            )
        try:
            return unseal(wrapping, bytes(row["wrapped_key"]), org_id.encode())
        except InvalidTag:
            raise SecretStoreError(f"the data key of org {org_id} does not decrypt") from None

    # -- values --------------------------------------------------------------------------------

    def put(
        self,
        org_id: str,
        name: str,
        value: str,
        *,
        revision: int,
        set_by: str | None,
        set_at: datetime,
    ) -> None:
        """Store `value` as the name's current value unless a newer revision is stored."""
        key = self._data_key(org_id, create=True)
        assert key is not None
        sealed = seal(key, value.encode(), _value_aad(org_id, name))
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_PUT, (org_id, name, sealed, revision, set_by, set_at))

    def delete(self, org_id: str, name: str, *, revision: int) -> None:
        """Remove the name's value, unless one newer than the deletion is stored."""
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_DELETE, (org_id, name, revision))

    def values(self, org_id: str, names: Iterable[str]) -> dict[str, str]:
        """The current values of the names that are set (missing names are left out)."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_VALUES, (org_id, wanted))
            rows = curs.fetchall()
        if not rows:
            return {}
        key = self._data_key(org_id, create=False)
        if key is None:
            raise SecretStoreError(f"org {org_id} has secret values but no data key")
        found: dict[str, str] = {}
        for row in rows:
            name = str(row["name"])
            try:
                plain = unseal(key, bytes(row["ciphertext"]), _value_aad(org_id, name))
            except InvalidTag:
                raise SecretStoreError(
                    f"the value of secret {name} of org {org_id} does not decrypt"
                ) from None
            found[name] = plain.decode()
        return found

    def names(self, org_id: str) -> list[str]:
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_NAMES, (org_id,))
            return [str(row["name"]) for row in curs.fetchall()]
