"""Who may call what: bearer tokens (HS256 and RS256 via JWKS) and the role matrix."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from interfaces.api import create_app
from interfaces.settings import DEV_JWT_SECRET
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import MASTER_KEY, SECRET, assert_problem, auth, new_org
from tests.integration.api.test_definitions import DEFINITION

ISSUER = "https://clerk.example.test"
AUDIENCE = "bytedash-api"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": "user_1",
        "org_id": "org_jwks",
        "org_role": "org:admin",
        "iat": now,
        "exp": now + 300,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- HS256 (development secret) ----------------------------------------------------------------


async def test_requests_without_a_usable_token_are_401_with_a_bearer_challenge(
    stack: Stack,
) -> None:
    now = int(time.time())
    org = new_org()
    cases: dict[str, dict[str, str]] = {
        "no header": {},
        "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"},
        "not a jwt": bearer("not-a-jwt"),
        "wrong secret": auth(org, secret="another-secret-of-at-least-32-bytes!!"),
        "expired": bearer(
            jwt.encode(
                {"sub": "u", "org_id": org, "org_role": "admin", "exp": now - 120},
                SECRET,
                algorithm="HS256",
            )
        ),
        "no exp": bearer(
            jwt.encode({"sub": "u", "org_id": org, "org_role": "admin"}, SECRET, "HS256")
        ),
        "no org": bearer(
            jwt.encode({"sub": "u", "org_role": "admin", "exp": now + 60}, SECRET, "HS256")
        ),
        "no sub": bearer(
            jwt.encode({"org_id": org, "org_role": "admin", "exp": now + 60}, SECRET, "HS256")
        ),
        "unknown role": bearer(
            jwt.encode(
                {"sub": "u", "org_id": org, "org_role": "superuser", "exp": now + 60},
                SECRET,
                "HS256",
            )
        ),
        "alg none": bearer(
            jwt.encode(
                {"sub": "u", "org_id": org, "org_role": "admin", "exp": now + 60}, "", "none"
            )
        ),
    }
    for case, headers in cases.items():
        response = await stack.client.get("/api/v1/contacts", headers=headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), case


async def test_the_clerk_role_form_is_accepted(stack: Stack) -> None:
    org = new_org()
    token = jwt.encode(
        {"sub": "u", "org_id": org, "org_role": "org:admin", "exp": int(time.time()) + 60},
        SECRET,
        "HS256",
    )
    # An admin may manage definitions: this empty one is refused for its content, not the role.
    response = await stack.client.post("/api/v1/definitions", json={}, headers=bearer(token))
    assert_problem(response, 422)


async def test_the_role_matrix(stack: Stack) -> None:
    org = new_org()
    contact = (
        await stack.client.post(
            "/api/v1/contacts?wait=true", json={"first_name": "A"}, headers=auth(org, "member")
        )
    ).json()
    definition = (
        await stack.client.post(
            "/api/v1/definitions?wait=true", json=DEFINITION, headers=auth(org, "owner")
        )
    ).json()
    commands = [
        ("viewer", "POST", "/api/v1/contacts", {"first_name": "B"}),
        ("viewer", "PATCH", f"/api/v1/contacts/{contact['id']}", {"first_name": "C"}),
        ("viewer", "POST", "/api/v1/tasks", {"title": "t", "assigned_to": "user:u"}),
        ("viewer", "POST", "/api/v1/definitions", DEFINITION),
        ("member", "POST", "/api/v1/definitions", DEFINITION),
        ("member", "PUT", f"/api/v1/definitions/{definition['id']}", DEFINITION),
        ("member", "POST", f"/api/v1/definitions/{definition['id']}/activate", None),
        ("member", "POST", f"/api/v1/definitions/{definition['id']}/deactivate", None),
    ]
    for role, method, path, body in commands:
        response = await stack.client.request(method, path, json=body, headers=auth(org, role))
        problem = assert_problem(response, 403)
        assert role in problem["detail"], (role, method, path)

    for role in ("viewer", "member", "admin", "owner"):
        for path in ("/contacts", "/tasks", "/me/tasks", "/executions", "/definitions"):
            response = await stack.client.get(f"/api/v1{path}", headers=auth(org, role))
            assert response.status_code == 200, (role, path)
    member_command = await stack.client.post(
        "/api/v1/tasks", json={"title": "t", "assigned_to": "user:u"}, headers=auth(org, "member")
    )
    assert member_command.status_code == 202
    admin_command = await stack.client.post(
        f"/api/v1/definitions/{definition['id']}/activate", headers=auth(org, "admin")
    )
    assert admin_command.status_code == 202


# -- RS256 through a JWKS (production, Clerk-compatible) ---------------------------------------


class Keys:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]}

    def sign(self, payload: dict[str, Any], *, kid: str = "key-1", other: bool = False) -> str:
        key = self.other if other else self.private
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def jwks_url(keys: Keys) -> Iterator[str]:
    """A local HTTP server publishing the JWKS, as Clerk's /.well-known/jwks.json does."""
    body = json.dumps(keys.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def jwks_client(stack: Stack, jwks_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An app configured for production: RS256 through the JWKS only, iss and aud checked."""
    settings = api_settings(
        stack.database_url,
        stack.task_queue,
        env="production",
        master_key=MASTER_KEY,
        auth_jwt_secret=None,
        auth_jwks_url=jwks_url,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        log_format="json",
    )
    client = stack.app.state.api.temporal
    async with serving(create_app(settings, temporal_client=client)) as http:
        yield http


async def test_an_rs256_token_from_the_jwks_is_accepted(
    jwks_client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await jwks_client.get("/api/v1/contacts", headers=bearer(keys.sign(claims())))
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("wrong audience", lambda k: k.sign(claims(aud="someone-else"))),
        ("no audience", lambda k: k.sign(claims(aud=None))),
        ("wrong issuer", lambda k: k.sign(claims(iss="https://evil.example"))),
        ("expired", lambda k: k.sign(claims(exp=int(time.time()) - 300))),
        ("signed by another key", lambda k: k.sign(claims(), other=True)),
        ("unknown key id", lambda k: k.sign(claims(), kid="key-9")),
        ("no org", lambda k: k.sign(claims(org_id=None))),
        (
            "hs256 with the dev secret",
            lambda k: jwt.encode(claims(), SECRET, algorithm="HS256"),
        ),
    ],
)
async def test_bad_rs256_tokens_are_401(
    jwks_client: httpx.AsyncClient, keys: Keys, case: str, token: Any
) -> None:
    response = await jwks_client.get("/api/v1/contacts", headers=bearer(token(keys)))
    problem = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer"), case
    assert problem["detail"], case


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def jwks_dev_client(stack: Stack, jwks_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A JWKS configured while BYTEDASH_ENV is left at its development default."""
    settings = api_settings(
        stack.database_url,
        stack.task_queue,
        auth_jwt_secret=None,
        auth_jwks_url=jwks_url,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
    )
    assert settings.env == "development"
    client = stack.app.state.api.temporal
    async with serving(create_app(settings, temporal_client=client)) as http:
        yield http


async def test_configuring_a_jwks_switches_the_development_secret_off(
    jwks_dev_client: httpx.AsyncClient, keys: Keys
) -> None:
    """The development secret is public: with it, anyone could be admin of any org."""
    forged = jwt.encode(claims(org_role="admin"), DEV_JWT_SECRET, algorithm="HS256")
    refused = await jwks_dev_client.get("/api/v1/contacts", headers=bearer(forged))
    problem = assert_problem(refused, 401)
    assert "HS256" in problem["detail"]

    accepted = await jwks_dev_client.get("/api/v1/contacts", headers=bearer(keys.sign(claims())))
    assert accepted.status_code == 200, accepted.text
