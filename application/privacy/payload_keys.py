"""The keys of the Temporal payload codec (table `temporal_payload_keys`, migration 0014).

A workflow that can carry a person's data (`execution-…`, `contact-…`, `task-…`) gets a random
32-byte key of its own the first time anything is encoded for it; every other workflow shares
one random key. Keys are stored wrapped by a key derived from the master key (the key id as
associated data), so the database alone opens no history, and a master key rotation re-wraps the
rows without touching Temporal.

Erasing a contact destroys the keys of the contact's workflows (application/privacy/erasure.py):
the row keeps why and when, the key material is gone, and Temporal's copy of those histories is
noise from then on.

Keys are cached in the process for `ttl` seconds (a minute by default): a codec call hits the
database once per workflow and process, and a destroyed key stops opening anything in every
process within that time.

While Postgres does not answer (within `wait` seconds), the product keeps accepting commands
through Temporal, as it did before payloads were sealed: a key already read stays in use past
its ttl until the database answers again, and a workflow that needs a new key while none can be
stored is sealed with the shared key instead (logged as `payload_keys.shared_fallback`, with
the workflow): its payloads are encrypted like every other, but an erasure cannot destroy their
key (docs/auditing.md, "Temporal's history"). One call that found Postgres down spares the
calls of the next DOWN_SECONDS the wait.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Any

import psycopg
import structlog
from cryptography.exceptions import InvalidTag
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from application.privacy.master import MasterKeyMismatchError, MasterKeys
from application.secrets import KEY_BYTES, seal, unseal

log = structlog.get_logger(__name__)

WRAP_INFO = b"bytedash temporal payload keys: wrapping v1"
# Seconds a codec call waits for a connection or an answer before it treats Postgres as down.
WAIT_SECONDS = 3.0
# After a codec call found Postgres down, calls in the next DOWN_SECONDS take the fallback at
# once instead of waiting WAIT_SECONDS each: a command's start encodes its input and each memo
# field separately, and four waits of 3 s outlasted the clients' patience, so an outage let
# almost no command through. A workflow started in the first DOWN_SECONDS after Postgres is back
# still gets the shared key.
DOWN_SECONDS = 2.0

# Workflow ids whose input, signals and activities may carry a contact's data.
PERSONAL_WORKFLOW_PREFIXES = ("execution-", "contact-", "task-")


def carries_personal_data(workflow_id: str | None) -> bool:
    return workflow_id is not None and workflow_id.startswith(PERSONAL_WORKFLOW_PREFIXES)


class PayloadKeyError(Exception):
    """A payload cannot be opened: its key is unknown here, erased, or wrapped by another master
    key."""


class PayloadKeyErasedError(PayloadKeyError):
    """The payload's key was destroyed (its contact was erased): the payload is unreadable for
    good."""

    def __init__(self, key_id: str, destroyed_at: datetime, reason: str | None) -> None:
        self.key_id = key_id
        self.destroyed_at = destroyed_at
        self.reason = reason
        super().__init__(
            f"payload key {key_id} was destroyed at {destroyed_at.isoformat()}"
            + (f" ({reason})" if reason else "")
            + ": the data it sealed was erased"
        )


_LIVE = (
    "SELECT key_id, wrapped_key, master_key_id FROM temporal_payload_keys"
    " WHERE workflow_id = %s AND wrapped_key IS NOT NULL"
)
_SHARED = (
    "SELECT key_id, wrapped_key, master_key_id FROM temporal_payload_keys"
    " WHERE workflow_id IS NULL AND wrapped_key IS NOT NULL"
)
_NEW = (
    "INSERT INTO temporal_payload_keys (key_id, workflow_id, wrapped_key, master_key_id)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
    " RETURNING key_id, wrapped_key, master_key_id"
)
_BY_ID = (
    "SELECT key_id, wrapped_key, master_key_id, destroyed_at, destroyed_reason"
    " FROM temporal_payload_keys WHERE key_id = %s"
)


class PayloadKeys:
    """Reads and creates payload keys over a small pool of its own (the codec runs in
    the event loop of the API, the worker and the CLI alike, so the pool is asynchronous)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        masters: MasterKeys,
        *,
        ttl: float = 60.0,
        capacity: int = 10_000,
        owns_pool: bool = False,
        wait: float = WAIT_SECONDS,
    ) -> None:
        self._pool = pool
        self._wait = wait
        self._masters = masters
        self._ttl = ttl
        self._capacity = capacity
        self._owns_pool = owns_pool
        self._opened = False
        self._by_workflow: OrderedDict[str, tuple[float, str, bytes]] = OrderedDict()
        self._by_id: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._shared: tuple[str, bytes] | None = None
        # Until then (monotonic), Postgres is taken as down: see DOWN_SECONDS.
        self._down_until = 0.0
        self._current_id = masters.current_id
        # HKDF once per master key, not per key unwrapped.
        self._wrapping: dict[str, bytes] = {}

    @classmethod
    def connect(cls, database_url: str, masters: MasterKeys, **options: Any) -> PayloadKeys:
        """Keys over a pool of their own (at most 4 connections, opened on first use)."""
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=4,
            open=False,
            kwargs={
                "row_factory": dict_row,
                "autocommit": True,
                "connect_timeout": max(1, int(WAIT_SECONDS)),
            },
            name="payload-keys",
        )
        return cls(pool, masters, owns_pool=True, **options)

    async def close(self) -> None:
        if self._owns_pool and self._opened:
            await self._pool.close()
            self._opened = False

    async def _connection(self) -> Any:
        if self._owns_pool and not self._opened:
            self._opened = True
            await self._pool.open(wait=False)
        return self._pool.connection(timeout=self._wait)

    # -- wrapping ------------------------------------------------------------------------------

    def _wrapping_key(self, wrapped_by: str) -> bytes:
        found = self._wrapping.get(wrapped_by)
        if found is None:
            found = self._wrapping[wrapped_by] = self._masters.wrapping_key(WRAP_INFO, wrapped_by)
        return found

    def _unwrap(self, key_id: str, wrapped: bytes, wrapped_by: str) -> bytes:
        try:
            wrapping = self._wrapping_key(wrapped_by)
        except MasterKeyMismatchError as error:
            raise PayloadKeyError(f"payload key {key_id}: {error}") from None
        try:
            return unseal(wrapping, wrapped, key_id.encode())
        except InvalidTag:
            raise PayloadKeyError(f"payload key {key_id} does not unwrap (damaged row)") from None

    def _wrap(self, key_id: str, key: bytes) -> bytes:
        return seal(self._wrapping_key(self._current_id), key, key_id.encode())

    # -- the key a payload is sealed with ------------------------------------------------------

    async def for_workflow(self, workflow_id: str | None) -> tuple[str, bytes]:
        """(key id, key) to seal a payload of `workflow_id` with: its own key when it may carry
        personal data, else the shared key. Created on first use."""
        if not carries_personal_data(workflow_id):
            return await self._shared_key()
        assert workflow_id is not None
        now = time.monotonic()
        cached = self._by_workflow.get(workflow_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1], cached[2]
        if now < self._down_until:  # Postgres did not answer a moment ago: no new wait
            if cached is not None:
                return cached[1], cached[2]
            if self._shared is not None:
                log.warning("payload_keys.shared_fallback", workflow_id=workflow_id, error="down")
                return self._shared
        try:
            key_id, key = await self._live_or_new(workflow_id)
        except psycopg.OperationalError as error:
            self._down_until = time.monotonic() + DOWN_SECONDS
            if cached is not None:  # the key it had: still right unless erased meanwhile
                return cached[1], cached[2]
            if self._shared is None:
                raise
            log.warning(
                "payload_keys.shared_fallback", workflow_id=workflow_id, error=str(error)[:200]
            )
            return self._shared
        if self._shared is None:  # the outage fallback, while the database answers
            await self.warm()
        self._remember(self._by_workflow, workflow_id, (now, key_id, key))
        self._remember(self._by_id, key_id, (now, key))
        return key_id, key

    async def warm(self) -> None:
        """Read the shared key ahead (best effort), so that an outage of Postgres later finds
        it in the process."""
        try:
            await self._shared_key()
        except psycopg.OperationalError as error:
            log.info("payload_keys.not_warmed", error=str(error)[:200])

    async def _shared_key(self) -> tuple[str, bytes]:
        if self._shared is None:
            self._shared = await self._live_or_new(None)
        return self._shared

    async def _live_or_new(self, workflow_id: str | None) -> tuple[str, bytes]:
        select, args = (_SHARED, ()) if workflow_id is None else (_LIVE, (workflow_id,))
        async with await self._connection() as conn:
            # A workflow's key is usually made by its first payload (the API's start), so the
            # insert comes first: one round trip then, two when the key exists already.
            key_id = ("shared-" if workflow_id is None else "wf-") + uuid.uuid4().hex
            key = os.urandom(KEY_BYTES)
            wrapped = self._wrap(key_id, key)
            row = await (
                await conn.execute(_NEW, (key_id, workflow_id, wrapped, self._current_id))
            ).fetchone()
            if row is None:  # it has one: read it (two first users race; both get the winner's)
                row = await (await conn.execute(select, args)).fetchone()
                assert row is not None
        found_id = str(row["key_id"])
        return found_id, self._unwrap(found_id, bytes(row["wrapped_key"]), row["master_key_id"])

    # -- the key a payload names ---------------------------------------------------------------

    async def by_id(self, key_id: str) -> bytes:
        """The key named in a payload's metadata; PayloadKeyErasedError when it was destroyed."""
        if self._shared is not None and key_id == self._shared[0]:
            return self._shared[1]
        now = time.monotonic()
        cached = self._by_id.get(key_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            async with await self._connection() as conn:
                row = await (await conn.execute(_BY_ID, (key_id,))).fetchone()
        except psycopg.OperationalError:
            if cached is not None:  # Postgres is down: the key it had, until it answers again
                return cached[1]
            raise
        if row is None:
            raise PayloadKeyError(
                f"payload key {key_id} is not in this database's temporal_payload_keys: the "
                "history was written by another deployment (or its key rows were removed)"
            )
        if row["wrapped_key"] is None:
            raise PayloadKeyErasedError(key_id, row["destroyed_at"], row["destroyed_reason"])
        key = self._unwrap(key_id, bytes(row["wrapped_key"]), row["master_key_id"])
        self._remember(self._by_id, key_id, (now, key))
        return key

    def _remember(self, cache: OrderedDict[str, Any], name: str, value: Any) -> None:
        cache[name] = value
        cache.move_to_end(name)
        while len(cache) > self._capacity:
            cache.popitem(last=False)
