"""What one running app holds: settings, the database pool, the Temporal client, auth, metrics,
rate limits.

Built by `create_app` and kept on ``app.state`` (never at module level), so tests can build many
apps side by side, each with its own pool and registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from psycopg_pool import AsyncConnectionPool, ConnectionPool
from temporalio.client import Client

from interfaces.api.auth import TokenVerifier
from interfaces.api.metrics import ApiMetrics
from interfaces.settings import Settings

if TYPE_CHECKING:  # ratelimit answers with problems, whose module needs this one
    from interfaces.api.ratelimit import RateLimiter

T = TypeVar("T")


@dataclass
class ApiContext:
    settings: Settings
    pool: ConnectionPool[Any]
    # The read models' async pool: the list and get routes of contacts, tasks and executions
    # (the reads dashboards poll) run their query on the event loop, without a thread hop.
    reads: AsyncConnectionPool[Any]
    verifier: TokenVerifier
    metrics: ApiMetrics
    # Per-org and per-webhook request limits, shared with the other API processes.
    limiter: RateLimiter
    # Set by the lifespan (connected there) unless the caller injected one.
    temporal: Client | None = None
    # How long a command waits for its workflow's result before answering 202 without it.
    command_accept_timeout: float = 10.0
    # Set when the server is told to stop (the lifespan chains it to SIGTERM and SIGINT): every
    # wait ends at once and answers as if its time were up (202, or 504 for ?wait=true), so
    # the process stops in moments instead of after its longest wait.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def until_stopping(self, awaitable: Awaitable[T], timeout: float) -> T:
        """`awaitable`'s result, like ``asyncio.wait_for``; TimeoutError after `timeout`
        seconds or as soon as the server is stopping, whichever comes first."""
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({work, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            finished = work.done()
            if not finished:
                work.cancel()
        if not finished:
            raise TimeoutError
        return work.result()

    def require_temporal(self) -> Client:
        if self.temporal is None:
            raise RuntimeError("the Temporal client is not connected: is the lifespan running?")
        return self.temporal
