"""The master key a process holds, and the one it replaces while a rotation is under way.

Every key the product stores (org data keys of the secret store, contacts' data keys, Temporal
payload keys) is wrapped by a key derived from BYTEDASH_MASTER_KEY and names the master key's
fingerprint. During a rotation (`bytedash keys rotate`) rows wrapped by the previous key remain
until the rotation reaches them, so a process started with the new key also opens rows of
BYTEDASH_MASTER_KEY_PREVIOUS: both keys are read until the rotation is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.secrets import derive_key, master_key_id


class MasterKeyMismatchError(Exception):
    """A row was wrapped by a master key this process does not hold."""


@dataclass(frozen=True)
class MasterKeys:
    current: bytes
    previous: bytes | None = None

    @property
    def current_id(self) -> str:
        return master_key_id(self.current)

    def wrapping_key(self, info: bytes, wrapped_by: str) -> bytes:
        """The wrapping key for `info` derived from the master key named `wrapped_by`."""
        if wrapped_by == master_key_id(self.current):
            return derive_key(self.current, info)
        if self.previous is not None and wrapped_by == master_key_id(self.previous):
            return derive_key(self.previous, info)
        held = master_key_id(self.current)
        raise MasterKeyMismatchError(
            f"a key was wrapped by master key {wrapped_by}, but this process holds master key "
            f"{held}"
            + (
                f" and previous master key {master_key_id(self.previous)}"
                if self.previous is not None
                else ""
            )
            + ": set BYTEDASH_MASTER_KEY (and, while a rotation is under way, "
            "BYTEDASH_MASTER_KEY_PREVIOUS) to the keys the data was stored with"
        )
