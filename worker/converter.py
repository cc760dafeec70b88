"""The data converter of every Temporal client the product creates (API, worker, CLI,
followers): pydantic models as JSON, then sealed by the payload codec
(application/privacy/codec.py), so that Temporal's database holds no readable payload."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Self, cast

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    SerializationContext,
)

from application.privacy.codec import SealingCodec
from application.privacy.master import MasterKeys
from application.privacy.payload_keys import PayloadKeyError, PayloadKeys
from worker.secret_transit import DEV_MASTER_KEY

__all__ = ["PayloadKeyError", "PayloadKeys", "payload_keys", "sealed_data_converter"]


# Converters kept per serialization context, per converter (see SealingDataConverter).
CONTEXTS_KEPT = 2048


@dataclasses.dataclass(frozen=True)
class SealingDataConverter(DataConverter):
    """The SDK's data converter, keeping what `with_context` made for each context.

    The SDK asks for a converter bound to a context (the workflow, or one of its activities) for
    every activation and for every command's payloads; with a codec that takes the context
    (ours: the workflow's key) the SDK's answer is a new converter each time, whose construction
    builds a payload converter and a failure converter that are then thrown away: 10 µs a call.
    In py-spy profiles of the worker under `bench.compare`, `with_context` held the GIL in 10%
    of the samples, 3% with the converters kept (the end-to-end figures moved within their
    noise). The converters it makes depend on nothing but the context (a frozen, hashable
    value), so they are kept, the newest CONTEXTS_KEPT of them.
    """

    _contexts: OrderedDict[SerializationContext, DataConverter] = dataclasses.field(
        default_factory=OrderedDict, repr=False, compare=False
    )
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    def with_context(self, context: SerializationContext) -> Self:
        kept = self._contexts.get(context)
        if kept is None:
            kept = super().with_context(context)
            with self._lock:
                self._contexts[context] = kept
                while len(self._contexts) > CONTEXTS_KEPT:
                    self._contexts.popitem(last=False)
        return cast(Self, kept)


def sealed_data_converter(keys: PayloadKeys) -> DataConverter:
    """Failures' messages and stack traces go into their encoded attributes too, so the codec
    seals them: a step's failure can quote a rendered value (a name, an email)."""
    return SealingDataConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=SealingCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def payload_keys(
    database_url: str, master_key: bytes | None, previous_master_key: bytes | None = None
) -> PayloadKeys:
    """The codec's keys in `database_url`, wrapped by `master_key` (None: the development key)
    and, during a rotation, also opened with `previous_master_key`."""
    masters = MasterKeys(DEV_MASTER_KEY if master_key is None else master_key, previous_master_key)
    return PayloadKeys.connect(database_url, masters)
