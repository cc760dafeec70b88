"""The Temporal payload codec: nothing the product hands Temporal is stored readable.

Temporal keeps every workflow input, result, signal, memo and activity input and result in its
history, in its own database, for the namespace's retention period after the workflow closes
(and forever in an archive, when one is configured). The product cannot change or remove those
after the fact, so it encrypts them before they leave the process: a `PayloadCodec` (the SDK's
own extension point for this, run outside the workflow sandbox) with the serialization context
(`WithSerializationContext`), which tells it which workflow a payload belongs to.

Each encoded payload is AES-256-GCM under the workflow's key (application/privacy/payload_keys.py)
with the key id as associated data, and names that key in its metadata (`bytedash-key`), so a
reader needs no context to decode it, and a payload encoded for one workflow id and used under
another (a Schedule's action, encoded for its id prefix) still opens. Payloads without the
codec's encoding (histories recorded before it, tests' recorded histories) pass through.

Erasing a contact destroys its workflows' keys: decoding their payloads raises
`PayloadKeyErasedError`, which readers turn into "erased" rather than an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from application.privacy.payload_keys import PayloadKeyError, PayloadKeys
from application.secrets import seal, unseal

ENCODING = b"binary/bytedash-sealed"
KEY_METADATA = "bytedash-key"


def is_sealed(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


class SealingCodec(PayloadCodec, WithSerializationContext):
    """Encrypts payloads with their workflow's key; decrypts with the key a payload names."""

    def __init__(self, keys: PayloadKeys, workflow_id: str | None = None) -> None:
        self._keys = keys
        self._workflow_id = workflow_id

    @property
    def keys(self) -> PayloadKeys:
        return self._keys

    def with_context(self, context: SerializationContext) -> Self:
        workflow_id = (
            context.workflow_id
            if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext)
            else None
        )
        return type(self)(self._keys, workflow_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not payloads:
            return []
        key_id, key = await self._keys.for_workflow(self._workflow_id)
        named = key_id.encode()
        return [
            Payload(
                metadata={"encoding": ENCODING, KEY_METADATA: named},
                data=seal(key, payload.SerializeToString(), named),
            )
            for payload in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded: list[Payload] = []
        for payload in payloads:
            if not is_sealed(payload):
                decoded.append(payload)
                continue
            named = payload.metadata.get(KEY_METADATA, b"")
            key = await self._keys.by_id(named.decode())
            try:
                plain = unseal(key, payload.data, named)
            except InvalidTag:
                raise PayloadKeyError(
                    f"a payload sealed with key {named.decode()} does not open (altered)"
                ) from None
            decoded.append(Payload.FromString(plain))
        return decoded
