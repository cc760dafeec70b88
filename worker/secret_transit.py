"""Sealing a secret's value for its trip from the API to the worker through Temporal.

The API never writes the database; a command travels as a workflow input, which Temporal keeps
in the workflow's history. A secret's value is therefore sealed by the API (AES-256-GCM under a
key derived from BYTEDASH_MASTER_KEY with HKDF-SHA256, for this purpose only; the org and the
name as associated data) and opened by the worker's activity, which stores it under the org's
data key (application/secrets.py). The history holds only the sealed form, for the
namespace's retention period.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_BYTES = 32
# The master key of development (BYTEDASH_MASTER_KEY unset outside production): public by
# design, refused in production, so that `bytedash up` stores secrets out of the box.
DEV_MASTER_KEY = hashlib.sha256(
    b"bytedash-development-master-key-do-not-use-in-production"
).digest()
_TRANSIT_INFO = b"bytedash secrets: transit from the API to the worker v1"
_NONCE = 12


class SealedValueError(Exception):
    """The sealed value does not open with this process's master key (or was altered)."""


def _key(master_key: bytes) -> bytes:
    if len(master_key) != MASTER_KEY_BYTES:
        raise ValueError(f"the master key must be {MASTER_KEY_BYTES} bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_TRANSIT_INFO)
    return hkdf.derive(master_key)


def _aad(org_id: str, name: str) -> bytes:
    return f"{org_id}\x1f{name}".encode()


def seal_value(master_key: bytes, org_id: str, name: str, value: str) -> str:
    nonce = os.urandom(_NONCE)
    sealed = nonce + AESGCM(_key(master_key)).encrypt(nonce, value.encode(), _aad(org_id, name))
    return base64.b64encode(sealed).decode()


def open_value(master_key: bytes, org_id: str, name: str, sealed: str) -> str:
    try:
        raw = base64.b64decode(sealed, validate=True)
        plain = AESGCM(_key(master_key)).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(org_id, name))
    except (InvalidTag, ValueError):
        raise SealedValueError(
            f"the value sent for secret {name} does not open with this worker's master key: "
            "the API and the worker must share BYTEDASH_MASTER_KEY"
        ) from None
    return plain.decode()
