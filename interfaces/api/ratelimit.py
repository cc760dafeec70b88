"""Rate limits: requests per org on the API, deliveries per definition on webhooks.

The limit must hold across every API process (``bytedash api --workers N``, several machines),
so its state lives in the one store they share: a token bucket per key in Postgres (the
``rate_limits`` table of migration 0010, unlogged: it is operational state that may be lost
in a crash, when every bucket simply starts full again). Going to Postgres on every request
would cost a round trip and a thread hop each, several times the budget of a fast read, so
each process leases tokens in chunks instead:

* a process keeps, per key, the tokens it leased; a request takes one locally (no I/O);
* when they run out, it leases the next chunk with one ``INSERT ... ON CONFLICT DO UPDATE ...
  RETURNING`` that refills the shared bucket for the time passed (Postgres's clock, so every
  process agrees) and takes up to a chunk; concurrent requests of one key in one process wait
  for the same lease rather than each asking;
* a lease is worth ``CHUNK_SECONDS`` of the rate (at least one token, at most a quarter of the
  burst) and is dropped after ``LEASE_SECONDS`` unused, so the tokens a process holds but does
  not use are few and short-lived;
* an empty bucket answers 429 with ``Retry-After`` (when the next token is due), and the process
  remembers that until then, so a client hammering past its limit costs no query per request.

Every request served took a token from the shared bucket: across all processes a key never gets
more than its burst plus its rate times the time passed. The price of leasing is the other way:
a process may refuse while another still holds a few leased tokens of the same key.

If Postgres cannot be asked, requests pass (a limit protects the service; it is not what keeps
data apart) and the process asks again a second later.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
import structlog
from psycopg.rows import tuple_row
from starlette.concurrency import run_in_threadpool

from interfaces.api.problems import ProblemError
from interfaces.settings import Settings

log = structlog.get_logger(__name__)

RATE_LIMITED = "/problems/rate-limited"
# A lease is at most this many seconds of the key's rate...
CHUNK_SECONDS = 0.05
# ... and its unused tokens are dropped after this long.
LEASE_SECONDS = 1.0
# When Postgres cannot be asked, a key's requests pass unchecked for a lease's time (so that an
# outage costs one failed attempt per key and second, not one per request).
UNCHECKED = 1 << 30
# How long a lease may wait for a pooled connection before the request passes unchecked.
POOL_TIMEOUT_SECONDS = 1.0
# Local entries kept before the idle ones are swept out.
MAX_LOCAL_KEYS = 10_000

# Refill for the time passed (capped at the burst), then take up to `want` whole tokens.
_AVAILABLE = (
    "least(%(burst)s::float8, b.tokens + %(rate)s::float8"
    " * greatest(0, extract(epoch FROM now() - b.updated_at)))"
)
_LEASE = (
    "INSERT INTO rate_limits AS b (key, tokens, granted, updated_at)"
    " VALUES (%(key)s, %(burst)s::float8 - least(%(want)s, %(burst)s),"
    "  least(%(want)s, %(burst)s), now())"
    " ON CONFLICT (key) DO UPDATE SET"
    f"  tokens = {_AVAILABLE} - least(%(want)s, floor({_AVAILABLE})),"
    f"  granted = least(%(want)s, floor({_AVAILABLE}))::int,"
    "  updated_at = now()"
    " RETURNING granted, tokens"
)


@dataclass(frozen=True)
class Limit:
    """`rate` tokens per second, up to `burst` saved."""

    rate: float
    burst: int

    @classmethod
    def of(cls, rate: float, burst: int | None) -> Limit | None:
        """None (no limit) for a rate of 0; the burst defaults to twice the rate."""
        if rate <= 0:
            return None
        return cls(rate, burst if burst is not None else max(1, math.ceil(2 * rate)))

    @property
    def chunk(self) -> int:
        return max(1, min(math.ceil(self.rate * CHUNK_SECONDS), self.burst // 4))

    def seconds_until_one(self, tokens: float) -> float:
        return max(0.0, (1.0 - tokens) / self.rate)


class _Lease:
    __slots__ = ("denied_until", "expires", "tokens")

    def __init__(self) -> None:
        self.tokens = 0
        self.expires = 0.0
        self.denied_until = 0.0


class RateLimiter:
    """Per-key limits shared through Postgres, checked on the event loop (see module doc)."""

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[Any],
        *,
        api: Limit | None,
        webhook: Limit | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self.api = api
        self.webhook = webhook
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._asking: dict[str, asyncio.Future[None]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, pool: psycopg_pool.ConnectionPool[Any]
    ) -> RateLimiter:
        return cls(
            pool,
            api=Limit.of(settings.rate_limit_api_per_second, settings.rate_limit_api_burst),
            webhook=Limit.of(
                settings.rate_limit_webhook_per_second, settings.rate_limit_webhook_burst
            ),
        )

    async def check_api(self, org_id: str) -> None:
        """One API request of `org_id`; ProblemError 429 over its limit."""
        if self.api is not None:
            await self.take(f"api:{org_id}", self.api, f"Org {org_id!r} sent")

    async def check_webhook(self, definition_id: str) -> None:
        """One signed delivery to `definition_id`'s webhook; ProblemError 429 over its limit."""
        if self.webhook is not None:
            await self.take(
                f"webhook:{definition_id}", self.webhook, f"The webhook of {definition_id} got"
            )

    async def take(self, key: str, limit: Limit, who: str) -> None:
        while True:
            now = self._clock()
            lease = self._leases.get(key)
            if lease is not None:
                if lease.tokens > 0 and now < lease.expires:
                    lease.tokens -= 1
                    return
                if now < lease.denied_until:
                    raise _too_many(who, limit, lease.denied_until - now)
            await self._lease(key, limit)

    async def _lease(self, key: str, limit: Limit) -> None:
        """Lease the next chunk for `key`: one query, whoever else in this process waits too.

        The query runs in a task of its own, shielded, so a request that goes away while
        waiting (its client disconnected) does not cancel it for the others."""
        asking = self._asking.get(key)
        if asking is None:
            asking = asyncio.ensure_future(self._ask_and_record(key, limit))
            self._asking[key] = asking
        await asyncio.shield(asking)

    async def _ask_and_record(self, key: str, limit: Limit) -> None:
        try:
            granted, tokens = await run_in_threadpool(self._ask, key, limit)
            self._record(key, limit, granted, tokens)
        finally:
            del self._asking[key]

    def _record(self, key: str, limit: Limit, granted: int, tokens: float) -> None:
        now = self._clock()
        if len(self._leases) >= MAX_LOCAL_KEYS:
            self._sweep(now)
        lease = self._leases.setdefault(key, _Lease())
        lease.tokens = granted
        lease.expires = now + LEASE_SECONDS
        lease.denied_until = 0.0 if granted else now + limit.seconds_until_one(tokens)

    def _ask(self, key: str, limit: Limit) -> tuple[int, float]:
        """(tokens granted, tokens left in the shared bucket); runs on the thread pool."""
        params = {"key": key, "burst": limit.burst, "rate": limit.rate, "want": limit.chunk}
        try:
            with (
                self._pool.connection(timeout=POOL_TIMEOUT_SECONDS) as conn,
                conn.cursor(row_factory=tuple_row) as cur,
            ):
                row = cur.execute(_LEASE, params).fetchone()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as e:
            log.warning("rate_limit.unchecked", key=key, error=str(e))
            return UNCHECKED, 0.0
        assert row is not None
        return int(row[0]), float(row[1])

    def _sweep(self, now: float) -> None:
        for key in [
            k for k, v in self._leases.items() if now >= v.expires and now >= v.denied_until
        ]:
            del self._leases[key]


def _too_many(who: str, limit: Limit, wait: float) -> ProblemError:
    retry_after = max(1, math.ceil(wait))
    return ProblemError(
        429,
        f"{who} more than {limit.rate:g} requests per second (bursts of {limit.burst}); "
        f"retry after {retry_after} s.",
        type_=RATE_LIMITED,
        title="Too many requests",
        headers={"Retry-After": str(retry_after)},
    )
