"""Helpers for the API tests: tokens, problem assertions, reading the event store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from interfaces.api.auth import OperatorPolicy, issue_dev_token
from projections.personal import KEY_COLUMNS, KEY_JOIN, reveal_item

SECRET = "api-tests-secret-with-at-least-32-bytes!"
WEBHOOK_KEY = "api-tests-webhook-key-with-at-least-32-bytes!"
# BYTEDASH_MASTER_KEY of an app built for production: base64 of 32 distinct bytes.
MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
PROBLEM_JSON = "application/problem+json"


def new_org() -> str:
    return f"org_{uuid.uuid4().hex[:10]}"


def auth(
    org: str,
    role: str = "member",
    user: str = "u1",
    secret: str = SECRET,
    *,
    operator: bool = False,
) -> dict[str, str]:
    """Headers with a token; `operator` adds the default operator claim (a platform operator)."""
    extra = OperatorPolicy().operator_claims() if operator else None
    token = issue_dev_token(secret, org=org, role=role, user=user, ttl=600, extra_claims=extra)
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Caller:
    """One org's user with a role: sends requests with its own token."""

    client: httpx.AsyncClient
    org: str
    role: str = "member"
    user: str = "u1"
    operator: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.org, self.role, self.user, operator=self.operator)

    def as_role(self, role: str, user: str | None = None) -> Caller:
        return Caller(self.client, self.org, role, user or self.user)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers=self._merge(kwargs), **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, headers=self._merge(kwargs), **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.patch(path, headers=self._merge(kwargs), **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.put(path, headers=self._merge(kwargs), **kwargs)

    def _merge(self, kwargs: dict[str, Any]) -> dict[str, str]:
        return {**self.headers, **kwargs.pop("headers", {})}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str) and body[key], body
    assert "Traceback" not in response.text
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    return {str(item["field"]) for item in body["errors"]}


def events_of(database_url: str, aggregate_id: str) -> list[dict[str, Any]]:
    """The aggregate's events, `data` with its personal attributes opened."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            f"SELECT events.*, {KEY_COLUMNS} FROM events{KEY_JOIN}"
            " WHERE originator_id = %s ORDER BY position",
            (uuid.UUID(aggregate_id),),
        ).fetchall()
    return [{**row, "data": reveal_item(row)} for row in rows]
