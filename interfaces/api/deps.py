"""Dependencies of the routes, as ``Annotated`` aliases: `Db`, `Caller`, `WorkActor`…

Role guards are dependencies too, so a route states who may call it in its signature, and
FastAPI checks the caller before it validates the body (a viewer's command is a 403 whatever
it carries).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool

from interfaces.api.auth import (
    AuthenticationError,
    KeySourceUnavailableError,
    Principal,
)
from interfaces.api.commands import DEFAULT_WAIT_TIMEOUT, CommandGateway, Wait
from interfaces.api.context import ApiContext
from interfaces.api.problems import FORBIDDEN, UNAUTHENTICATED, UNAVAILABLE, ProblemError
from interfaces.api.reads import ReadModels
from projections.queries import MAX_LIMIT

# The OpenAPI security scheme (the "Authorize" button of /docs); checking is done below, so
# that every failure is a problem document rather than FastAPI's plain 403.
_bearer_scheme = HTTPBearer(auto_error=False, description="A JWT: `bytedash token` in development")


async def get_context(request: Request) -> ApiContext:
    """Async on purpose, like every dependency that does no blocking I/O: FastAPI runs a plain
    ``def`` dependency on its thread pool, a thread hop per request for an attribute read."""
    context: ApiContext = request.app.state.api
    return context


Context = Annotated[ApiContext, Depends(get_context)]


async def get_db(context: Context) -> AsyncIterator[Connection[Any]]:
    """A pooled connection for one request's reads, returned to the pool afterwards.

    Async, and without a thread hop when it need not wait: a plain ``def`` generator costs two
    hops to FastAPI's thread pool per request (to enter and to exit), which the read bench's
    profile showed as the largest cost of a read under load (bench.api --load). Taking an idle
    connection is a lock and a pop, and returning one in autocommit and idle state does no I/O,
    so both run on the event loop; only when the pool has no idle connection does the wait go
    to a thread (or a connection left mid-transaction go back through one).
    """
    pool = context.pool
    try:
        conn = pool.getconn(timeout=_NO_WAIT)
    except PoolTimeout:
        conn = await run_in_threadpool(pool.getconn)
    try:
        yield conn
    finally:
        if conn.pgconn.transaction_status == TransactionStatus.IDLE:
            pool.putconn(conn)
        else:
            await run_in_threadpool(pool.putconn, conn)


# How long the event loop may wait for an idle connection before handing the wait to a thread.
_NO_WAIT = 0.0005


Db = Annotated[Connection[Any], Depends(get_db)]


async def get_read_models(context: Context) -> ReadModels:
    """The read models on the async pool (interfaces/api/reads.py): for the routes that run
    their query on the event loop."""
    return ReadModels(context.reads)


Reads = Annotated[ReadModels, Depends(get_read_models)]


def _unauthenticated(detail: str, error: str | None = "invalid_token") -> ProblemError:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return ProblemError(
        401,
        detail,
        type_=UNAUTHENTICATED,
        title="Unauthenticated",
        headers={"WWW-Authenticate": challenge},
    )


async def current_principal(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Principal:
    """The verified caller; binds org and user to the log context of the rest of the request."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthenticated(
            "This endpoint needs an 'Authorization: Bearer <token>' header.", error=None
        )
    verifier = context.verifier
    try:
        if verifier.uses_jwks:  # may fetch the JWKS: keep blocking I/O off the event loop
            principal = await run_in_threadpool(verifier.verify, credentials.credentials)
        else:
            principal = verifier.verify(credentials.credentials)
    except AuthenticationError as e:
        raise _unauthenticated(str(e)) from None
    except KeySourceUnavailableError:
        raise ProblemError(
            503,
            "The signing keys cannot be fetched right now; try again shortly.",
            type_=UNAVAILABLE,
            headers={"Retry-After": "5"},
        ) from None
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(org_id=principal.org_id, user_id=principal.user_id)
    # Every authenticated route passes here, and only they: /healthz, /readyz, /metrics and
    # the webhooks (limited per definition once signed) are not counted against an org.
    await context.limiter.check_api(principal.org_id)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def _forbidden(principal: Principal, what: str) -> ProblemError:
    return ProblemError(
        403,
        f"The {principal.role} role cannot {what}.",
        type_=FORBIDDEN,
        title="Forbidden",
    )


async def require_worker(principal: Caller) -> Principal:
    """Members, admins and owners act on work: contacts, tasks, executions."""
    if not principal.can_work:
        raise _forbidden(principal, "change contacts, tasks or executions")
    return principal


async def require_manager(principal: Caller) -> Principal:
    """Admins and owners also manage workflow definitions."""
    if not principal.can_manage:
        raise _forbidden(principal, "manage workflow definitions")
    return principal


async def require_eraser(principal: Caller) -> Principal:
    """Admins and owners erase a person's data: it cannot be undone."""
    if not principal.can_manage:
        raise _forbidden(principal, "erase a person's data")
    return principal


async def require_admin_view(principal: Caller) -> Principal:
    """Platform operators, and admins and owners of an org: the admin routes, which answer an
    org admin with their org's share of what an operator sees (docs/operations.md)."""
    if not (principal.operator or principal.can_manage):
        raise _forbidden(principal, "use the admin tooling")
    return principal


async def require_operator(principal: Caller) -> Principal:
    """Platform operators only: tools whose effect or answer spans every org."""
    if not principal.operator:
        raise ProblemError(
            403,
            "Only platform operators may do this: it acts on every org's data "
            "(an org's admins and owners are not operators).",
            type_=FORBIDDEN,
            title="Forbidden",
        )
    return principal


WorkActor = Annotated[Principal, Depends(require_worker)]
DefinitionManager = Annotated[Principal, Depends(require_manager)]
ContactEraser = Annotated[Principal, Depends(require_eraser)]
AdminViewer = Annotated[Principal, Depends(require_admin_view)]
Operator = Annotated[Principal, Depends(require_operator)]

# Lists: docs/contract.md "Lists".
Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT}).")
]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="The `next_cursor` of the previous page, unchanged."),
]


async def get_commands(context: Context) -> CommandGateway:
    return CommandGateway(context)


Commands = Annotated[CommandGateway, Depends(get_commands)]


async def wait_option(
    wait: Annotated[
        bool,
        Query(description="Answer once the change is visible in the read side, with the resource."),
    ] = False,
    wait_timeout: Annotated[
        float,
        Query(gt=0, le=30, description="Seconds `wait=true` waits at most before a 504."),
    ] = DEFAULT_WAIT_TIMEOUT,
) -> Wait:
    return Wait(enabled=wait, timeout=wait_timeout)


# Commands: read-your-writes (`?wait=true&wait_timeout=5`) and idempotency.
WaitOption = Annotated[Wait, Depends(wait_option)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Repeating a command with the same key returns the first result; "
        "the command runs once.",
    ),
]
