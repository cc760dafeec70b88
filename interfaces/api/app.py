"""The app factory: the API's composition root.

`create_app` builds everything the app needs (pool, token verifier, metrics, routers) from
`Settings`; its lifespan opens the pool and connects Temporal on start-up and closes them on
shutdown. Nothing is created at import time, so tests build as many apps as they like, and
`bytedash api` / `bytedash up` build exactly one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import structlog
from fastapi import Depends, FastAPI
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from interfaces.api.auth import OperatorPolicy, TokenVerifier
from interfaces.api.context import ApiContext
from interfaces.api.metrics import ApiMetrics
from interfaces.api.middleware import MAX_BODY_BYTES, BodyLimitMiddleware, RequestContextMiddleware
from interfaces.api.openapi import describe_errors
from interfaces.api.problems import install_problem_handlers
from interfaces.api.ratelimit import RateLimiter
from interfaces.api.routers import (
    admin,
    audit,
    commands,
    contacts,
    definitions,
    dev_tokens,
    execution_commands,
    executions,
    health,
    secrets,
    tasks,
    templates,
    webhooks,
)
from interfaces.api.stopping import chain_stop_signals
from interfaces.api.validation import refuse_unstorable_input
from interfaces.console import mount_console
from interfaces.heap import settle as settle_heap
from interfaces.settings import Settings
from projections.events import use_fast_json, use_fast_json_async
from projections.personal import hold_master_keys
from worker.converter import payload_keys, sealed_data_converter

log = structlog.get_logger(__name__)

# Connections for the blocking routes: sync endpoints run on Starlette's thread pool (40
# threads), and most requests hold a connection for a millisecond or two.
POOL_MAX_SIZE = 10
# Connections for the async reads (contacts, tasks, executions): a read holds one for the time
# of its query, and the event loop runs one request's Python at a time, so a few suffice.
READS_POOL_MAX_SIZE = 8
POOL_TIMEOUT = 5.0
POOL_RECONNECT_TIMEOUT = 2.0

DESCRIPTION = """
Byte Dashboard: contacts tracked through multi-step processes.

* **Auth**: `Authorization: Bearer <JWT>` with `sub`, `org_id`, `org_role`
  (`owner|admin|member|viewer`). Viewers read; members also act on contacts and tasks;
  admins and owners also manage definitions.
* **Errors**: `application/problem+json` (RFC 9457); validation errors list each bad field
  in `errors`. Ids that are not UUIDs, missing ids and other orgs' ids all answer 404.
* **Commands** answer `202 {"workflow_id", "id"}`; `?wait=true` answers with the resource
  once it is visible in the read side (`201`/`200`, bounded by `wait_timeout`, else `504`).
  `Idempotency-Key` makes a retried command run once.
* **Lists**: `?limit=` (1 to 200, default 50) and `?cursor=`; `{"items", "next_cursor"}`.
"""


def _version() -> str:
    try:
        return package_version("bytedash")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(settings: Settings, *, temporal_client: Client | None = None) -> FastAPI:
    """The API for `settings`; `temporal_client` replaces connecting to TEMPORAL_ADDRESS."""
    if not settings.database_url:
        raise ValueError("the API needs DATABASE_URL")
    if temporal_client is None and not settings.temporal_address:
        raise ValueError("the API needs TEMPORAL_ADDRESS (or an injected Temporal client)")
    # The audit reads open contacts' personal data with these (projections/personal.py).
    hold_master_keys(
        settings.master_key_bytes(),
        settings.previous_master_key_bytes(),
        production=settings.is_production,
    )
    verifier = TokenVerifier(
        secret=settings.jwt_secret(),
        jwks_url=settings.auth_jwks_url,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        operators=OperatorPolicy.from_settings(settings),
    )
    pool: ConnectionPool[Any] = ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=POOL_MAX_SIZE,
        # Autocommit: the API only reads, one statement at a time (READ COMMITTED gives each
        # statement its own snapshot inside a transaction too), so a read is one round trip
        # instead of three (BEGIN, the query, COMMIT). What needs a transaction (the NDJSON
        # export's server-side cursor) opens one explicitly.
        kwargs={"row_factory": dict_row, "application_name": "bytedash-api", "autocommit": True},
        open=False,
        name="bytedash-api",
        # During a Postgres outage a request waits this long for a connection, then answers
        # 503 with Retry-After (instead of holding a thread for the default 30 s).
        timeout=POOL_TIMEOUT,
        # A lost connection is retried with exponential backoff until this give-up (default
        # 5 minutes), so the API kept answering 503 for up to a minute after Postgres was
        # back. Given up early, the next request that finds the pool empty connects at once.
        reconnect_timeout=POOL_RECONNECT_TIMEOUT,
        # jsonb decoded by orjson (exact path for integers beyond 64 bits): read-model rows
        # carry JSON columns (fields, metadata, steps), decoded on every read.
        configure=use_fast_json,
    )
    reads: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=READS_POOL_MAX_SIZE,
        # The same choices as the blocking pool above, for the same reasons.
        kwargs={"row_factory": dict_row, "application_name": "bytedash-api", "autocommit": True},
        open=False,
        name="bytedash-api-reads",
        timeout=POOL_TIMEOUT,
        reconnect_timeout=POOL_RECONNECT_TIMEOUT,
        configure=use_fast_json_async,
    )
    metrics = ApiMetrics(pool)
    context = ApiContext(
        settings=settings,
        pool=pool,
        reads=reads,
        verifier=verifier,
        metrics=metrics,
        limiter=RateLimiter.from_settings(settings, pool),
        temporal=temporal_client,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Not waiting for connections: the API starts (and /healthz answers) even while
        # Postgres is still coming up; /readyz tells when it can serve.
        pool.open(wait=False)
        await reads.open(wait=False)
        # Payloads the API hands Temporal (command inputs, memos) are sealed like the worker's.
        assert settings.database_url is not None  # checked by create_app
        keys = payload_keys(
            settings.database_url,
            None if settings.uses_dev_master_key else settings.master_key_bytes(),
            settings.previous_master_key_bytes(),
        )
        # The shared key read ahead, for commands accepted while Postgres is down.
        warming = asyncio.create_task(keys.warm())
        if context.temporal is None:
            assert settings.temporal_address is not None
            context.temporal = await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=sealed_data_converter(keys),
                lazy=True,
            )
        log.info(
            "api.started",
            temporal_namespace=settings.temporal_namespace,
            task_queue=settings.temporal_task_queue,
            auth="jwks" if verifier.uses_jwks else "hs256",
        )
        if settings.uses_dev_master_key:
            log.warning(
                "secrets.development_master_key",
                detail="BYTEDASH_MASTER_KEY is not set: secrets are sealed with the public "
                "development key (refused in production)",
            )
        # What is alive now lives as long as the process: out of the full collections' way
        # (interfaces/heap.py; their pauses were most of the read API's p99).
        settle_heap()
        # Waits end the moment the server is told to stop (interfaces/api/stopping.py).
        unchain = chain_stop_signals(context.stopping)
        try:
            yield
        finally:
            unchain()
            warming.cancel()
            await keys.close()
            await reads.close()
            await run_in_threadpool(pool.close)
            log.info("api.stopped")

    app = FastAPI(
        title="Byte Dashboard API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # Before every route's own dependencies: a NUL or lone surrogate anywhere is a 422.
        dependencies=[Depends(refuse_unstorable_input)],
    )
    app.openapi = describe_errors(app)  # type: ignore[method-assign]
    app.state.api = context
    install_problem_handlers(app)
    # Added innermost first: the request context wraps everything, the body limit sits inside.
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    # Each resource router carries the /api/v1 prefix itself, so that a matched route's path
    # is the full template the metrics and access log label requests with.
    for router in (
        health.router,
        contacts.router,
        tasks.router,
        executions.router,
        execution_commands.router,
        definitions.router,
        templates.router,
        webhooks.router,
        audit.router,
        admin.router,
        commands.router,
        secrets.router,
        dev_tokens.router,
    ):
        app.include_router(router)
    mount_console(app)
    return app
