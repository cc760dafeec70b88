"""Personal data in events: which attributes carry it, how they are stored, how they read back.

Crypto-shredding (docs/event-store.md, "Personal data"): an event class names its personal
attributes in ``personal_data``; an aggregate class names, in ``personal_owner``, the attribute
holding the id of the contact its events' personal data belongs to (``id`` for a contact
itself). The write path (application/store/personal.py) moves those attributes out of the
event's JSON into one *envelope* under the key ``_personal``:

    {"contact": "<contact id>", "sealed": "<base64 nonce||AES-256-GCM>", "shape": {...}}

sealed with the contact's data key, the associated data naming the org, the contact and the
event (aggregate id and version), so a ciphertext copied into another event does not open. The
``shape`` is what an erased attribute reads as, kept in clear: the keys of mappings (field and
output names, to a depth of four) and the lengths of lists, every value replaced by
``ERASED``. Everything else of the event (ids, types, times, statuses) stays in clear.

Readers pass the stored data and the contact's key row to ``reveal``: the attributes come back
decrypted, or, once the contact's key is destroyed, as their erased shape. This module is pure
(no I/O): the key rows come from whoever read the event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# What a personal value of an erased contact reads as (contract: docs/contract.md).
ERASED = "[erased]"
ENVELOPE = "_personal"
# HKDF info of the key that wraps contacts' data keys (contact_keys.wrapped_key).
CONTACT_WRAP_INFO = b"bytedash personal data: wrapping contact keys v1"
NONCE_BYTES = 12
KEY_BYTES = 32
SHAPE_DEPTH = 4


class PersonalDataError(Exception):
    """Stored personal data cannot be opened: a damaged row or a master key not held here."""


class KeyRow(NamedTuple):
    """A contact's row of ``contact_keys`` as a reader found it; ``wrapped_key`` None: erased."""

    org_id: str
    wrapped_key: bytes | None
    master_key_id: str


def derive_wrapping_key(master_key: bytes) -> bytes:
    """The key that wraps contacts' data keys, derived from the master key (HKDF-SHA256)."""
    if len(master_key) != KEY_BYTES:
        raise ValueError(f"the master key must be {KEY_BYTES} bytes, not {len(master_key)}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=CONTACT_WRAP_INFO)
    return hkdf.derive(master_key)


def master_key_fingerprint(master_key: bytes) -> str:
    """The master key's name in key rows; the same as application/secrets.py master_key_id
    (the read side cannot import application)."""
    return hmac.new(master_key, b"bytedash master key id", hashlib.sha256).hexdigest()[:16]


def wrap_aad(org_id: str, contact_id: UUID | str) -> bytes:
    """Associated data of a wrapped contact key: a row moved to another contact does not open."""
    return f"{org_id}\x1f{contact_id}".encode()


def event_aad(org_id: str, contact_id: UUID | str, originator_id: object, version: int) -> bytes:
    """Associated data of an event's sealed personal data: its org, contact and event."""
    return (
        f"bytedash personal v1\x1f{org_id}\x1f{contact_id}\x1f{originator_id}\x1f{version}".encode()
    )


def personal_attributes(event_class: type) -> tuple[str, ...]:
    found: tuple[str, ...] = getattr(event_class, "personal_data", ())
    return found


def owner_of(aggregate: object) -> UUID | None:
    """The contact whose personal data the aggregate's events carry, if it has one."""
    attribute: str | None = getattr(type(aggregate), "personal_owner", None)
    if attribute is None:
        return None
    value = getattr(aggregate, attribute, None)
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def shape(value: Any, depth: int = 0) -> Any:
    """The erased form's skeleton of a value: mapping keys and list lengths, no values."""
    if depth < SHAPE_DEPTH and isinstance(value, Mapping):
        return {str(key): shape(item, depth + 1) for key, item in value.items()}
    if depth < SHAPE_DEPTH and isinstance(value, list):
        return [shape(item, depth + 1) for item in value]
    return None


def erased(skeleton: Any) -> Any:
    """What a value of that shape reads as once erased: ERASED in place of every value."""
    if isinstance(skeleton, dict):
        return {key: erased(item) for key, item in skeleton.items()}
    if isinstance(skeleton, list):
        return [erased(item) for item in skeleton]
    return ERASED


def split(event_class: type, state: dict[str, Any]) -> dict[str, Any]:
    """Remove the class's personal attributes from `state` (in place) and return them."""
    return {name: state.pop(name) for name in personal_attributes(event_class) if name in state}


def envelope(contact_id: UUID, personal: Mapping[str, Any], sealed: bytes | None) -> dict[str, Any]:
    """The stored form: `sealed` None writes the erased shape only (the contact is erased)."""
    stored: dict[str, Any] = {
        "contact": str(contact_id),
        "shape": {name: shape(value) for name, value in personal.items()},
    }
    if sealed is not None:
        stored["sealed"] = base64.b64encode(sealed).decode("ascii")
    return stored


def seal(key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """nonce || AES-256-GCM(ciphertext || tag); the caller brings a fresh random nonce."""
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)


def contact_of(data: Mapping[str, Any]) -> UUID | None:
    """The contact whose key the stored event's personal data needs, if it has any."""
    stored = data.get(ENVELOPE)
    if not isinstance(stored, Mapping):
        return None
    try:
        return UUID(str(stored.get("contact")))
    except ValueError:
        return None


class Unwrapper:
    """Opens wrapped contact keys with the wrapping keys of the master keys a process holds
    (its current one and, during a rotation, the previous one), memoised by wrapped bytes: a
    key is opened once per process, and an erased contact (no wrapped bytes) finds nothing."""

    MEMO_SIZE = 10_000

    def __init__(self, wrapping_keys: Mapping[str, bytes]) -> None:
        self._wrapping = dict(wrapping_keys)
        # wrapped bytes -> (the key, its AES-GCM cipher: its key schedule is made once)
        self._memo: OrderedDict[bytes, tuple[bytes, AESGCM]] = OrderedDict()

    @classmethod
    def from_master_keys(cls, *master_keys: bytes) -> Unwrapper:
        return cls({master_key_fingerprint(m): derive_wrapping_key(m) for m in master_keys})

    def key(self, contact_id: UUID | str, row: KeyRow) -> bytes | None:
        """The contact's data key, or None when it was erased."""
        opened = self._open(contact_id, row)
        return None if opened is None else opened[0]

    def cipher(self, contact_id: UUID | str, row: KeyRow) -> AESGCM | None:
        """The AES-GCM cipher of the contact's data key, or None when it was erased."""
        opened = self._open(contact_id, row)
        return None if opened is None else opened[1]

    def _open(self, contact_id: UUID | str, row: KeyRow) -> tuple[bytes, AESGCM] | None:
        wrapped = row.wrapped_key
        if wrapped is None:
            return None
        wrapped = bytes(wrapped)
        found = self._memo.get(wrapped)
        if found is not None:
            self._memo.move_to_end(wrapped)
            return found
        wrapping = self._wrapping.get(row.master_key_id)
        if wrapping is None:
            raise PersonalDataError(
                f"the data key of contact {contact_id} was wrapped by master key "
                f"{row.master_key_id}, but this process holds master key(s) "
                f"{', '.join(sorted(self._wrapping))}: set BYTEDASH_MASTER_KEY to the key the "
                "data was stored with"
            )
        try:
            key = unseal(wrapping, wrapped, wrap_aad(row.org_id, contact_id))
        except InvalidTag:
            raise PersonalDataError(f"the data key of contact {contact_id} does not open") from None
        opened = self._memo[wrapped] = (key, AESGCM(key))
        if len(self._memo) > self.MEMO_SIZE:
            self._memo.popitem(last=False)
        return opened


def reveal(
    data: dict[str, Any],
    originator_id: object,
    version: int,
    row: KeyRow | None,
    unwrapper: Unwrapper,
    loads: Callable[[bytes], Any] = json.loads,
) -> dict[str, Any]:
    """The event's data as the domain wrote it: personal attributes decrypted, or erased.

    `data` without an envelope (an event with no personal data, or written before encryption)
    is returned as it is. A contact with no key row at all is read as erased. `loads` decodes
    the decrypted JSON: the read side passes a faster one than the standard library's, which
    was a third of this function's time.
    """
    stored = data.get(ENVELOPE)
    if not isinstance(stored, Mapping):
        return data
    revealed = dict(data)
    del revealed[ENVELOPE]
    contact_id = _contact_text(stored["contact"])
    sealed = stored.get("sealed")
    cipher = None if row is None or sealed is None else unwrapper.cipher(contact_id, row)
    if cipher is None or row is None or not isinstance(sealed, str):
        revealed.update(erased(stored.get("shape") or {}))
        return revealed
    associated = event_aad(row.org_id, contact_id, originator_id, version)
    opened = base64.b64decode(sealed)
    try:
        plain = cipher.decrypt(opened[:NONCE_BYTES], opened[NONCE_BYTES:], associated)
    except InvalidTag:
        raise PersonalDataError(
            f"the personal data of event {originator_id} v{version} does not open with the key "
            f"of contact {contact_id}"
        ) from None
    revealed.update(loads(plain))
    return revealed


def withheld(data: dict[str, Any]) -> dict[str, Any]:
    """The event's data as `reveal` gives it for an erased contact, without looking for a key:
    for readers that use none of the personal attributes (they read as ERASED), so that they
    need neither the contact's key nor the master key that opens it."""
    stored = data.get(ENVELOPE)
    if not isinstance(stored, Mapping):
        return data
    kept = dict(data)
    del kept[ENVELOPE]
    kept.update(erased(stored.get("shape") or {}))
    return kept


@lru_cache(maxsize=65_536)
def _contact_text(value: object) -> str:
    """The envelope's contact id in its canonical text form (as the writer wrote it, and as the
    associated data names it), checked once per contact rather than parsed on every event."""
    return str(UUID(str(value)))


def is_erased(value: Any) -> bool:
    return bool(value == ERASED)


# The development master key (BYTEDASH_MASTER_KEY unset outside production): public by design,
# the same bytes as worker/secret_transit.py's DEV_MASTER_KEY, refused in production.
DEVELOPMENT_MASTER_KEY = hashlib.sha256(
    b"bytedash-development-master-key-do-not-use-in-production"
).digest()
