"""Rate limits: requests per org on the API, deliveries per definition on webhooks.

The limit must hold across every API process (``bytedash api --workers N``, several machines),
so its state lives in the one store they share: a token bucket per key in Postgres (the
``rate_limits`` table of migration 0010, unlogged: it is operational state that may be lost
in a crash, when every bucket simply starts full again). Going to Postgres on every request
would cost a round trip and a thread hop each, several times the budget of a fast read, so
each process leases tokens in chunks instead:

* a process keeps, per key, the tokens it leased; a request takes one locally (no I/O);
* when half of them are used, it leases the next chunk in the background, with one
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` that refills the shared bucket for the
  time passed (Postgres's clock, so every process agrees) and takes up to a chunk; a request
  waits for a lease only when none is held (a key's first request, or traffic outrunning the
  lease), and concurrent requests of one key in one process then wait for the same one;
* the size of a lease follows the key's traffic in this process: ``FIRST_LEASE`` tokens at
  first (and at least that many later), twice the last lease when half of it went within a
  quarter of ``LEASE_SECONDS``, half when tokens were dropped, at most a quarter of the burst.
  So a busy key leases every second or so per process at any rate, and a key with sparse
  traffic every few requests (5 to 8 with ``FIRST_LEASE`` 8);
* the tokens of a lease larger than ``FIRST_LEASE`` are dropped ``LEASE_SECONDS`` after it, so
  that a process cannot save a large lease for a later burst; a small lease (what a sparse key
  holds) is kept up to ``KEEP_SECONDS``;
* an empty bucket answers 429 with ``Retry-After`` (when the next token is due), and the process
  remembers that until then, so a client hammering past its limit costs no query per request.

Every request served took a token from the shared bucket: across all processes a key never gets
more than its burst plus its rate times the time passed since its first request; in any shorter
window, at most a small lease and a half more per process (``FIRST_LEASE`` and the leftovers of
the lease before, kept from earlier). The price
of leasing is the other way: a process may refuse while another still holds leased tokens of
the same key (at most half as many again as a quarter of the burst).

If Postgres cannot be asked, requests pass (a limit protects the service; it is not what keeps
data apart) and the process asks again ``LEASE_SECONDS`` later.
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
# Leases grow while half of one goes within a quarter of this, so a busy key leases about every
# second; a lease of more than FIRST_LEASE tokens unused this long is dropped (and the next one
# is smaller).
LEASE_SECONDS = 5.0
# The first and smallest lease of a key in a process (at most a quarter of the burst)...
FIRST_LEASE = 8
# ... kept this long, so that a key with sparse traffic does not lease for every request.
KEEP_SECONDS = 60.0
# When Postgres cannot be asked, a key's requests pass unchecked for a lease's time (so that an
# outage costs one failed attempt per key and lease, not one per request).
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
    def max_lease(self) -> int:
        """The most tokens one lease takes (a process holds at most half as many again)."""
        return max(1, self.burst // 4)

    def seconds_until_one(self, tokens: float) -> float:
        return max(0.0, (1.0 - tokens) / self.rate)


class _Lease:
    __slots__ = ("denied_until", "expires", "leased_at", "size", "tokens")

    def __init__(self) -> None:
        self.tokens = 0
        self.expires = 0.0
        self.denied_until = 0.0
        self.leased_at = 0.0
        self.size = 0  # tokens the last lease asked for

    def next_size(self, now: float, limit: Limit) -> int:
        """Twice the last lease when it goes fast, half when tokens were dropped."""
        smallest = min(limit.max_lease, FIRST_LEASE)
        if self.size == 0:
            return smallest
        if now >= self.expires and self.tokens > 0:
            return max(smallest, self.size // 2)
        if now - self.leased_at < LEASE_SECONDS / 4:  # twice as much lasts < LEASE_SECONDS
            return min(limit.max_lease, self.size * 2)
        return max(smallest, min(limit.max_lease, self.size))


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
        """One token of `key`, from this process's lease (no I/O), else from a new lease; a
        429 problem naming `who` when the shared bucket is empty."""
        while True:
            now = self._clock()
            lease = self._leases.get(key)
            if lease is not None:
                if lease.tokens > 0 and now < lease.expires:
                    lease.tokens -= 1
                    if (
                        0 < 2 * lease.tokens < lease.size  # half left (none: wait)
                        and now >= lease.denied_until  # refused lately: no query per request
                        and key not in self._asking
                    ):
                        self._start_lease(key, limit, lease.next_size(now, limit))
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
            lease = self._leases.get(key) or _Lease()
            asking = self._start_lease(key, limit, lease.next_size(self._clock(), limit))
        await asyncio.shield(asking)

    def _start_lease(self, key: str, limit: Limit, want: int) -> asyncio.Future[None]:
        asking = asyncio.ensure_future(self._ask_and_record(key, limit, want))
        self._asking[key] = asking
        return asking

    async def _ask_and_record(self, key: str, limit: Limit, want: int) -> None:
        try:
            granted, tokens = await run_in_threadpool(self._ask, key, limit, want)
            self._record(key, limit, want, granted, tokens)
        finally:
            del self._asking[key]

    def _record(self, key: str, limit: Limit, want: int, granted: int, tokens: float) -> None:
        now = self._clock()
        if len(self._leases) >= MAX_LOCAL_KEYS:
            self._sweep(now)
        lease = self._leases.setdefault(key, _Lease())
        if granted:
            lease.tokens = (lease.tokens if now < lease.expires else 0) + granted
            small = max(want, granted) <= FIRST_LEASE  # not a pass while Postgres is away
            lease.expires = now + (KEEP_SECONDS if small else LEASE_SECONDS)
            lease.leased_at = now
        elif lease.tokens == 0 or now >= lease.expires:
            lease.tokens, lease.expires = 0, now
        lease.size = want
        lease.denied_until = 0.0 if granted else now + limit.seconds_until_one(tokens)

    def _ask(self, key: str, limit: Limit, want: int) -> tuple[int, float]:
        """(tokens granted, tokens left in the shared bucket); runs on the thread pool."""
        params = {"key": key, "burst": limit.burst, "rate": limit.rate, "want": want}
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
