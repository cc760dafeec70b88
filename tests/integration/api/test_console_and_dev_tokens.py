"""The console's files served by the API, and development sign-in (``/api/v1/dev/tokens``),
which mints tokens only while the API checks tokens with the public development secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import jwt

from interfaces.api import create_app
from interfaces.settings import DEV_JWT_SECRET
from tests.integration.api.conftest import api_settings, serving
from tests.integration.api.support import MASTER_KEY, SECRET, assert_problem


@asynccontextmanager
async def client(database_url: str, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings(database_url, "console-tests", **overrides)
    async with serving(create_app(settings)) as http:
        yield http


async def test_the_console_page_is_served_at_every_console_path(database_url: str) -> None:
    async with client(database_url) as http:
        for path in ("/console", "/console/", "/console/executions/abc", "/console/sign-in"):
            page = await http.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/console/static/app.js">' in page.text
            assert page.headers["cache-control"] == "no-cache"
            policy = page.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "connect-src 'self'" in policy
        script = await http.get("/console/static/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "no-cache" in script.headers["cache-control"]
        assert_problem(await http.get("/console/static/no-such-module.js"), 404)
        # A page, not an operation of the API.
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert not [p for p in paths if p.startswith("/console")]


async def test_development_sign_in_mints_a_token_the_api_accepts(database_url: str) -> None:
    async with client(database_url, auth_jwt_secret=None) as http:
        issuer = await http.get("/api/v1/dev/tokens")
        assert issuer.status_code == 200
        assert issuer.json()["roles"] == ["owner", "admin", "member", "viewer"]
        minted = await http.post(
            "/api/v1/dev/tokens", json={"org": "acme", "role": "viewer", "user": "vera"}
        )
        assert minted.status_code == 201, minted.text
        body = minted.json()
        claims = jwt.decode(body["token"], DEV_JWT_SECRET, algorithms=["HS256"])
        assert (claims["sub"], claims["org_id"], claims["org_role"]) == ("vera", "acme", "viewer")
        tasks = await http.get(
            "/api/v1/me/tasks", headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert tasks.status_code == 200
        # The token is a viewer's like any other: a command is refused.
        refused = await http.post(
            "/api/v1/contacts",
            json={"first_name": "Ada"},
            headers={"Authorization": f"Bearer {body['token']}"},
        )
        assert_problem(refused, 403)


async def test_development_sign_in_names_each_bad_field(database_url: str) -> None:
    async with client(database_url, auth_jwt_secret=None) as http:
        answer = await http.post(
            "/api/v1/dev/tokens",
            json={"org": "", "role": "root", "user": "a b", "ttl_seconds": 0, "extra": 1},
        )
        problem = assert_problem(answer, 422)
        fields = {error["field"] for error in problem["errors"]}
        assert {"org", "role", "user", "ttl_seconds", "extra"} <= fields


async def test_no_development_sign_in_without_the_development_secret(database_url: str) -> None:
    settings_without = (
        {"auth_jwt_secret": SECRET},  # a configured secret: minting would hand it out
        {"auth_jwt_secret": None, "auth_jwks_url": "https://idp.example.test/jwks.json"},
        {
            "auth_jwt_secret": SECRET,
            "env": "production",
            "master_key": MASTER_KEY,
        },
    )
    for overrides in settings_without:
        async with client(database_url, **overrides) as http:
            assert_problem(await http.get("/api/v1/dev/tokens"), 404)
            minted = await http.post(
                "/api/v1/dev/tokens", json={"org": "acme", "role": "owner", "user": "mallory"}
            )
            problem = assert_problem(minted, 404)
            assert "Development sign-in is off" in problem["detail"]
