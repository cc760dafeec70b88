"""The applicant onboarding as a client drives it over HTTP: the same calls for the product and
for the hand-written service, which answers the same paths.

A signed webhook (``X-Byte-Signature: t=<unix seconds>,v1=HMAC-SHA256(secret, "<t>.<body>")``,
docs/engine.md) starts an execution; ``GET /api/v1/executions/{id}`` and
``GET /api/v1/tasks?execution_id=`` show it; ``PATCH /api/v1/tasks/{id}`` with status done and
outcome approved lets it finish. The signature is computed here, not imported from the product:
a sender outside the product computes it the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from domain.definition_library import APPLICANT_ONBOARDING

VISIBLE_TIMEOUT = 60.0
APPROVED = {"status": "done", "metadata": {"outcome": "approved"}}


class NotVisibleError(AssertionError):
    """What the client waited for did not show in the read API in time."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def applicant(n: int | str) -> dict[str, Any]:
    return {"first_name": f"Ada{n}", "last_name": "Lovelace", "email": f"ada{n}@example.com"}


@dataclass(frozen=True)
class Target:
    """One side as the client sees it: where, as whom, and which definition's webhook."""

    label: str
    base: str
    token: str
    definition_id: str
    secret: str


async def create_definition(base: str, token: str) -> tuple[str, str]:
    """Create and activate the library's applicant onboarding through the product's API, as
    the README does; its id and its webhook secret (answered once, at creation)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        created = await client.post("/api/v1/definitions?wait=true", json=APPLICANT_ONBOARDING)
        if created.status_code != 201:
            raise SystemExit(f"creating the definition: {created.status_code} {created.text}")
        body = created.json()
        activated = await client.post(f"/api/v1/definitions/{body['id']}/activate?wait=true")
        if activated.status_code != 200:
            raise SystemExit(f"activating the definition: {activated.status_code} {activated.text}")
    return str(body["id"]), str(body["webhook_secret"])


class Polling:
    """How often to look again: every `first` seconds, growing by `growth` up to `cap`. A
    fixed short interval times one request precisely; under load, a growing one keeps the
    client's own reads from becoming a large part of the work measured."""

    def __init__(self, first: float, cap: float | None = None, growth: float = 1.5) -> None:
        self.first = first
        self.cap = first if cap is None else cap
        self.growth = growth

    def intervals(self) -> Iterator[float]:
        interval = self.first
        while True:
            yield interval
            interval = min(self.cap, interval * self.growth)


class Session:
    """One HTTP client on one side, shared by every onboarding of a phase."""

    def __init__(self, target: Target, run: str) -> None:
        self.target = target
        self._run = run
        self.reads = 0  # GETs sent while waiting for something to show
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        self.client = httpx.AsyncClient(
            base_url=target.base,
            headers={"Authorization": f"Bearer {target.token}"},
            timeout=30,
            limits=limits,
        )

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def send_webhook(self, n: int | str) -> str:
        """One signed form submission; the id of the execution it starts."""
        body = json.dumps(applicant(n)).encode()
        headers = {
            "X-Byte-Signature": sign(self.target.secret, int(time.time()), body),
            "X-Byte-Delivery": f"bench-{self._run}-{n}",
            "Content-Type": "application/json",
        }
        response = await self.client.post(
            f"/webhooks/{self.target.definition_id}", content=body, headers=headers
        )
        if response.status_code != 202:
            raise AssertionError(
                f"{self.target.label} webhook: {response.status_code} {response.text}"
            )
        return str(response.json()["id"])

    async def until(self, path: str, check: Callable[[Any], bool], polling: Polling) -> Any:
        """Poll `path` until its body passes `check`; that body."""
        deadline = time.perf_counter() + VISIBLE_TIMEOUT
        for interval in polling.intervals():
            self.reads += 1
            response = await self.client.get(path)
            if response.status_code == 200:
                body = response.json()
                if check(body):
                    return body
            if time.perf_counter() > deadline:
                raise NotVisibleError(
                    f"{self.target.label} {path} not as expected after {VISIBLE_TIMEOUT:.0f} s: "
                    f"{response.status_code} {response.text[:300]}"
                )
            await asyncio.sleep(interval)
        raise AssertionError("unreachable: intervals() never ends")

    async def execution(
        self, execution_id: str, polling: Polling, status: str | None = None
    ) -> Any:
        return await self.until(
            f"/api/v1/executions/{execution_id}",
            lambda e: status is None or e.get("status") == status,
            polling,
        )

    async def review_task(self, execution_id: str, polling: Polling) -> Any:
        page = await self.until(
            f"/api/v1/tasks?execution_id={execution_id}", lambda p: bool(p["items"]), polling
        )
        return page["items"][0]

    async def approve(self, task_id: str) -> str | None:
        """The reviewer marks the task done with outcome approved (answered once recorded);
        the id of the workflow that carried the command, when the answer names it."""
        response = await self.client.patch(f"/api/v1/tasks/{task_id}", json=APPROVED)
        if response.status_code not in (200, 202):
            raise AssertionError(
                f"{self.target.label} completing task {task_id}: "
                f"{response.status_code} {response.text}"
            )
        workflow_id = response.json().get("workflow_id")
        return None if workflow_id is None else str(workflow_id)
