"""A Temporal client that seals payloads like the product's processes, for tests whose worker
runs in the test while the product's own client (the CLI, a follower) talks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client

from worker.converter import payload_keys, sealed_data_converter


@asynccontextmanager
async def sealed_client(raw: Client, database_url: str) -> AsyncIterator[Client]:
    """`raw`'s connection, with the payload codec over the keys in `database_url` (development
    master key, as the product's processes use without BYTEDASH_MASTER_KEY)."""
    keys = payload_keys(database_url, None)
    try:
        yield Client(
            raw.service_client,
            namespace=raw.namespace,
            data_converter=sealed_data_converter(keys),
        )
    finally:
        await keys.close()
