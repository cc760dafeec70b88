"""Rate limits: per org on the API, per definition on webhooks, one limit however many API
processes serve it (here two apps, each with its own pool and memory, sharing only Postgres).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from psycopg_pool import ConnectionPool

from interfaces.api import create_app
from interfaces.api.ratelimit import RATE_LIMITED, Limit, RateLimiter
from interfaces.api.webhook_signing import sign
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import Caller, assert_problem, auth, new_org
from tests.integration.api.test_definitions import DEFINITION

# So slow that nothing refills during a test: the burst is all there is.
NO_REFILL = 0.001


@asynccontextmanager
async def apps(
    stack: Stack, count: int, **limits: object
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` API apps with `limits`, as `count` processes would run them: each has its own
    pool and memory, and they share only Postgres."""
    settings = api_settings(stack.database_url, stack.task_queue, **limits)
    client = stack.app.state.api.temporal
    async with AsyncExitStack() as running:
        yield [
            await running.enter_async_context(serving(create_app(settings, temporal_client=client)))
            for _ in range(count)
        ]


def assert_limited(response: httpx.Response) -> int:
    problem = assert_problem(response, 429)
    assert problem["type"] == RATE_LIMITED
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


async def test_two_api_processes_share_one_org_limit(stack: Stack) -> None:
    async with apps(stack, 2, rate_limit_api_per_second=NO_REFILL, rate_limit_api_burst=10) as (
        one,
        two,
    ):
        org, other = new_org(), new_org()
        answers = []
        for n in range(30):
            client = one if n % 2 == 0 else two
            answers.append(await client.get("/api/v1/contacts", headers=auth(org)))

        served = [a for a in answers if a.status_code == 200]
        limited = [a for a in answers if a.status_code != 200]
        assert len(served) == 10  # one burst for the org, not one per process
        for response in limited:
            assert_limited(response)
        # Both processes refuse once the shared bucket is empty.
        assert {a.status_code for a in answers[-2:]} == {429}
        # Another org has a bucket of its own.
        assert (await two.get("/api/v1/contacts", headers=auth(other))).status_code == 200
        # Health, readiness and metrics are never limited.
        for client in (one, two):
            for path in ("/healthz", "/readyz", "/metrics"):
                assert (await client.get(path)).status_code == 200, path


async def test_concurrent_requests_of_one_org_never_exceed_the_burst(stack: Stack) -> None:
    async with apps(
        stack, 2, rate_limit_api_per_second=NO_REFILL, rate_limit_api_burst=25
    ) as clients:
        org = new_org()
        answers = await asyncio.gather(
            *(
                clients[n % 2].get("/api/v1/contacts", headers=auth(org, "viewer"))
                for n in range(80)
            )
        )
        served = sum(1 for a in answers if a.status_code == 200)
        assert served == 25
        for response in answers:
            if response.status_code != 200:
                assert_limited(response)


async def test_a_limited_org_is_served_again_after_retry_after(stack: Stack) -> None:
    async with apps(stack, 1, rate_limit_api_per_second=2, rate_limit_api_burst=1) as (client,):
        org = new_org()
        assert (await client.get("/api/v1/tasks", headers=auth(org))).status_code == 200
        retry_after = assert_limited(await client.get("/api/v1/tasks", headers=auth(org)))
        assert retry_after == 1
        await asyncio.sleep(retry_after)
        assert (await client.get("/api/v1/tasks", headers=auth(org))).status_code == 200


async def test_webhooks_are_limited_per_definition_once_signed(stack: Stack) -> None:
    admin = Caller(stack.client, new_org(), "admin")
    created = []
    for _ in range(2):
        made = await admin.post("/api/v1/definitions?wait=true", json=DEFINITION)
        assert made.status_code == 201, made.text
        definition = made.json()
        activated = await admin.post(f"/api/v1/definitions/{definition['id']}/activate?wait=true")
        assert activated.status_code == 200, activated.text
        created.append(definition)
    (busy, quiet) = created

    async with apps(
        stack, 2, rate_limit_webhook_per_second=NO_REFILL, rate_limit_webhook_burst=2
    ) as (one, two):

        async def deliver(client: httpx.AsyncClient, definition: dict[str, str], n: int) -> int:
            body = json.dumps({"first_name": f"Sender {n}"}).encode()
            signature = sign(definition["webhook_secret"], int(time.time()), body)
            response = await client.post(
                f"/webhooks/{definition['id']}",
                content=body,
                headers={"X-Byte-Signature": signature, "Content-Type": "application/json"},
            )
            if response.status_code == 429:
                assert_limited(response)
            return response.status_code

        statuses = [await deliver(one if n % 2 else two, busy, n) for n in range(5)]
        assert sorted(statuses) == [202, 202, 429, 429, 429]  # one burst, two processes
        assert statuses[-1] == 429
        # Unsigned requests are refused for their signature, and use up nothing.
        unsigned = await one.post(f"/webhooks/{quiet['id']}", json={"first_name": "Eve"})
        assert_problem(unsigned, 401)
        assert await deliver(two, quiet, 10) == 202
        # The org's API requests are counted apart from its webhooks.
        assert (await one.get("/api/v1/executions", headers=admin.headers)).status_code == 200


async def test_requests_pass_when_the_limit_store_cannot_be_reached() -> None:
    """A limit protects the service; Postgres being away must not turn it into an outage."""
    pool: ConnectionPool[Any] = ConnectionPool(
        "postgresql://nobody@127.0.0.1:1/none", min_size=1, open=False
    )
    pool.open(wait=False)
    try:
        limiter = RateLimiter(pool, api=Limit(rate=NO_REFILL, burst=1), webhook=None)
        for _ in range(3):
            await limiter.check_api("org_unreachable")
    finally:
        pool.close(timeout=0)
