"""Development sign-in: ``GET`` and ``POST /api/v1/dev/tokens``.

The console's sign-in page lets a developer pick an org, a role and a user instead of pasting
the output of ``bytedash token``. The token is signed with the public development secret, so
the routes exist only while that secret is what the API verifies HS256 tokens with: never with
``AUTH_JWKS_URL`` set, never with ``BYTEDASH_ENV=production``, never with a configured
``AUTH_JWT_SECRET`` (minting with a real secret for anyone who asks would hand out every role of
every org). Otherwise both answer ``404`` like any unknown route, so a production server does
not even say the feature exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import jwt
from fastapi import APIRouter
from pydantic import Field, StringConstraints

from interfaces.api.auth import ROLES, issue_dev_token
from interfaces.api.deps import Context
from interfaces.api.problems import NOT_FOUND, ProblemError
from interfaces.api.responses import API_PREFIX
from interfaces.api.schemas.common import PublicModel, RequestBody
from interfaces.settings import DEV_JWT_SECRET, Settings

router = APIRouter(prefix=f"{API_PREFIX}/dev", tags=["development"])

# A sign-in lasts a working day by default, at most a week: long enough not to interrupt, short
# enough that a token copied out of a browser stops working.
DEFAULT_TTL_SECONDS = 8 * 3600
MAX_TTL_SECONDS = 7 * 24 * 3600

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@+-]+$")
]


class DevTokenRequest(RequestBody):
    org: Name
    role: Literal["owner", "admin", "member", "viewer"]
    user: Name
    ttl_seconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=1, le=MAX_TTL_SECONDS)


class DevTokenIssuer(PublicModel):
    available: bool
    roles: list[str]
    default_ttl_seconds: int
    max_ttl_seconds: int


class DevToken(PublicModel):
    token: str
    token_type: Literal["Bearer"]
    org_id: str
    role: str
    user_id: str
    expires_at: datetime


def dev_secret_in_use(settings: Settings) -> bool:
    """True when HS256 tokens are checked with the public development secret, and only then."""
    return (
        not settings.is_production
        and not settings.auth_jwks_url
        and settings.auth_jwt_secret is None
        and settings.jwt_secret() == DEV_JWT_SECRET
    )


def _refuse_unless_dev(settings: Settings) -> None:
    if not dev_secret_in_use(settings):
        raise ProblemError(
            404,
            "Development sign-in is off: this server does not use the development secret "
            "(AUTH_JWKS_URL, AUTH_JWT_SECRET or BYTEDASH_ENV=production is set).",
            type_=NOT_FOUND,
        )


@router.get(
    "/tokens",
    name="dev_token_issuer",
    response_model=DevTokenIssuer,
    responses={404: {"description": "Development sign-in is off on this server."}},
)
async def dev_token_issuer(context: Context) -> DevTokenIssuer:
    """Whether development sign-in is available here (``404`` when it is not)."""
    _refuse_unless_dev(context.settings)
    return DevTokenIssuer(
        available=True,
        roles=list(ROLES),
        default_ttl_seconds=DEFAULT_TTL_SECONDS,
        max_ttl_seconds=MAX_TTL_SECONDS,
    )


@router.post(
    "/tokens",
    name="dev_token_issue",
    status_code=201,
    response_model=DevToken,
    responses={404: {"description": "Development sign-in is off on this server."}},
)
async def dev_token_issue(body: DevTokenRequest, context: Context) -> DevToken:
    """A development token for `org`, `role` and `user`, as ``bytedash token`` prints."""
    _refuse_unless_dev(context.settings)
    token = issue_dev_token(DEV_JWT_SECRET, body.org, body.role, body.user, ttl=body.ttl_seconds)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    return DevToken(
        token=token,
        token_type="Bearer",
        org_id=body.org,
        role=body.role,
        user_id=body.user,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )
