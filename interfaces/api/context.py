"""What one running app holds: settings, the database pool, the Temporal client, auth, metrics,
rate limits.

Built by `create_app` and kept on ``app.state`` (never at module level), so tests can build many
apps side by side, each with its own pool and registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg_pool import ConnectionPool
from temporalio.client import Client

from interfaces.api.auth import TokenVerifier
from interfaces.api.metrics import ApiMetrics
from interfaces.settings import Settings

if TYPE_CHECKING:  # ratelimit answers with problems, whose module needs this one
    from interfaces.api.ratelimit import RateLimiter


@dataclass
class ApiContext:
    settings: Settings
    pool: ConnectionPool[Any]
    verifier: TokenVerifier
    metrics: ApiMetrics
    # Per-org and per-webhook request limits, shared with the other API processes.
    limiter: RateLimiter
    # Set by the lifespan (connected there) unless the caller injected one.
    temporal: Client | None = None
    # How long a command waits for its workflow's result before answering 202 without it.
    command_accept_timeout: float = 10.0

    def require_temporal(self) -> Client:
        if self.temporal is None:
            raise RuntimeError("the Temporal client is not connected: is the lifespan running?")
        return self.temporal
