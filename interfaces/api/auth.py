"""Bearer tokens: who is calling, for which org, with which role.

Two ways to sign, chosen by the token's ``alg``: HS256 with ``AUTH_JWT_SECRET`` (development and
`bytedash token`), and RS256 with keys from ``AUTH_JWKS_URL`` (production, Clerk-compatible),
whose ``iss`` and ``aud`` are checked when configured. Each path accepts only its own algorithm,
so a token cannot pick a weaker check by naming another ``alg``.

Claims: ``sub``, ``org_id``, ``org_role`` (``owner|admin|member|viewer``, or Clerk's
``org:admin`` form), and ``exp``, which is required. Clerk's v2 session tokens carry the org as
``o: {id, rol}``; both forms are read.

Platform operators are a separate authority from an org's roles: the tools that span every org
(the whole store's integrity check, projection positions, rebuilds) are theirs, never an org
admin's. An `OperatorPolicy` recognises them by a configured claim (``roles`` holding
``bytedash:operator`` unless configured otherwise: an Azure AD app role, a Keycloak
``realm_access.roles`` entry, an Auth0 permission, a Clerk session-template claim) or by a
configured list of subjects, so that any identity provider can name them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from interfaces.settings import DEFAULT_OPERATOR_CLAIM, DEFAULT_OPERATOR_VALUE, Settings

Role = Literal["owner", "admin", "member", "viewer"]
ROLES: tuple[Role, ...] = ("owner", "admin", "member", "viewer")
# Roles that act on work (contacts, tasks, executions) and roles that manage definitions.
WORK_ROLES: frozenset[Role] = frozenset({"owner", "admin", "member"})
MANAGER_ROLES: frozenset[Role] = frozenset({"owner", "admin"})

HS_ALGORITHM = "HS256"
JWKS_ALGORITHMS = ("RS256",)
# Clock skew tolerated on exp/nbf/iat between the token issuer and this server.
LEEWAY_SECONDS = 30
# How long fetched signing keys are trusted before the JWKS is read again.
JWKS_CACHE_SECONDS = 300
# Tokens verified lately, kept this long (and never past their `exp`): a UI polling the read
# side sends the same token many times a second, and decoding and checking it again cost about
# a tenth of a read's CPU. Kept short so that a signing key withdrawn from the JWKS stops
# working within a minute, as it would with the JWKS cache alone.
VERIFIED_CACHE_SECONDS = 60.0
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class OperatorPolicy:
    """Who is a platform operator: a token whose `claim` (a dotted path into the claims, or
    None) holds `value` (equal to it, one of its list items, or one word of a space-separated
    string such as OAuth's ``scope``), or whose ``sub`` is one of `subjects`."""

    claim: str | None = DEFAULT_OPERATOR_CLAIM
    value: str = DEFAULT_OPERATOR_VALUE
    subjects: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> OperatorPolicy:
        """AUTH_OPERATOR_CLAIM (empty: none), AUTH_OPERATOR_VALUE, AUTH_OPERATOR_SUBJECTS."""
        return cls(
            claim=settings.auth_operator_claim or None,
            value=settings.auth_operator_value,
            subjects=settings.operator_subjects(),
        )

    def is_operator(self, claims: Mapping[str, Any]) -> bool:
        if claims.get("sub") in self.subjects:
            return True
        if not self.claim:
            return False
        found = _claim_at(claims, self.claim)
        if isinstance(found, str):
            return self.value in found.split()
        if isinstance(found, list | tuple):
            return self.value in found
        return False

    def operator_claims(self) -> dict[str, Any]:
        """The claims that make a token an operator's (for `bytedash token --operator`)."""
        if not self.claim:
            return {}
        *parents, last = self.claim.split(".")
        claims: dict[str, Any] = {last: [self.value]}
        for name in reversed(parents):
            claims = {name: claims}
        return claims


def _claim_at(claims: Mapping[str, Any], path: str) -> object:
    """The claim at a dotted `path` (``realm_access.roles``), or None."""
    found: object = claims
    for name in path.split("."):
        if not isinstance(found, Mapping):
            return None
        found = found.get(name)
    return found


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. Every query and command is scoped to `org_id`; `operator`
    callers may also run the platform's global tooling (whatever their org role)."""

    user_id: str
    org_id: str
    role: Role
    operator: bool = False

    @property
    def actor(self) -> str:
        """How events name this caller (`actor` metadata)."""
        return f"user:{self.user_id}"

    @property
    def can_work(self) -> bool:
        return self.role in WORK_ROLES

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGER_ROLES


class AuthenticationError(Exception):
    """The request carries no usable credentials: answered 401 with a reason."""


class KeySourceUnavailableError(Exception):
    """The JWKS could not be fetched: not the caller's fault, answered 503."""


class TokenVerifier:
    """Checks bearer tokens against the configured secret and/or JWKS.

    The JWKS client caches keys (and refetches on an unknown ``kid``), so a steady stream of
    requests costs no network calls. `verify` may block on that fetch: call it off the event loop.
    """

    def __init__(
        self,
        *,
        secret: str | None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        operators: OperatorPolicy | None = None,
    ) -> None:
        if secret is None and jwks_url is None:
            raise ValueError("a token verifier needs an HS256 secret or a JWKS URL")
        self._secret = secret
        self._operators = operators or OperatorPolicy()
        self._issuer = issuer
        self._audience = audience
        self._jwks = (
            jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=5)
            if jwks_url
            else None
        )

        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()
        self._verified_lock = threading.Lock()

    @property
    def uses_jwks(self) -> bool:
        return self._jwks is not None

    def verify(self, token: str) -> Principal:
        """The caller a token names; AuthenticationError if it is not valid (now)."""
        now, ticks = time.time(), time.monotonic()
        with self._verified_lock:
            known = self._verified.get(token)
        if known is not None:
            principal, expires_at, verified_at = known
            if now < expires_at and ticks - verified_at < VERIFIED_CACHE_SECONDS:
                return principal
        principal, claims = self._verify(token)
        expires_at = float(claims["exp"]) + LEEWAY_SECONDS
        with self._verified_lock:
            self._verified[token] = (principal, expires_at, ticks)
            self._verified.move_to_end(token)
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("The bearer token is not a well-formed JWT.") from None
        algorithm = header.get("alg")
        key: Any
        check_issuer_and_audience = False
        if algorithm == HS_ALGORITHM and self._secret is not None:
            key = self._secret
        elif algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            key = self._signing_key(token)
            check_issuer_and_audience = True
        else:
            raise AuthenticationError(f"Tokens signed with {algorithm!r} are not accepted here.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                issuer=self._issuer if check_issuer_and_audience else None,
                audience=self._audience if check_issuer_and_audience else None,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": check_issuer_and_audience and self._audience is not None,
                    "verify_iss": check_issuer_and_audience and self._issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The bearer token has expired.") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("The bearer token's signature is not valid.") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("The bearer token is meant for another audience.") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("The bearer token comes from an unknown issuer.") from None
        except jwt.MissingRequiredClaimError as e:
            raise AuthenticationError(f"The bearer token has no {e.claim!r} claim.") from None
        except jwt.PyJWTError as e:
            raise AuthenticationError(f"The bearer token is not valid: {e}.") from None
        return principal_from_claims(claims, self._operators), claims

    def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as e:
            raise KeySourceUnavailableError(str(e)) from None
        except jwt.PyJWTError:
            raise AuthenticationError(
                "The bearer token is signed with a key this server does not know."
            ) from None


def principal_from_claims(
    claims: Mapping[str, Any], operators: OperatorPolicy | None = None
) -> Principal:
    """The caller named by verified `claims`; AuthenticationError when a claim is missing.

    An operator still names an org and a role: what they do in an org's data is that role's
    to decide, and their events name them like anyone else."""
    org = claims.get("o") if isinstance(claims.get("o"), Mapping) else {}
    assert isinstance(org, Mapping)
    user_id = claims.get("sub")
    org_id = claims.get("org_id", org.get("id"))
    raw_role = claims.get("org_role", org.get("rol"))
    if not isinstance(user_id, str) or not user_id.strip():
        raise AuthenticationError("The bearer token has no 'sub' claim.")
    if not isinstance(org_id, str) or not org_id.strip():
        raise AuthenticationError("The bearer token has no 'org_id' claim.")
    role = normalise_role(raw_role)
    if role is None:
        raise AuthenticationError(
            f"The bearer token's 'org_role' {raw_role!r} is not one of {', '.join(ROLES)}."
        )
    operator = (operators or OperatorPolicy()).is_operator(claims)
    return Principal(user_id=user_id, org_id=org_id, role=role, operator=operator)


def normalise_role(value: object) -> Role | None:
    """``admin`` and Clerk's ``org:admin`` are the same role; anything unknown is None."""
    if not isinstance(value, str):
        return None
    name = value.removeprefix("org:")
    for role in ROLES:
        if role == name:
            return role
    return None


def issue_dev_token(
    secret: str,
    org: str,
    role: str,
    user: str,
    ttl: int = 24 * 3600,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """An HS256 token the API accepts when it shares `secret` (``bytedash token``);
    `extra_claims` adds claims, such as an `OperatorPolicy`'s ``operator_claims()``."""
    if normalise_role(role) is None:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if ttl <= 0:
        raise ValueError("ttl must be a positive number of seconds")
    now = int(time.time())
    claims = {
        "sub": user,
        "org_id": org,
        "org_role": role,
        "iat": now,
        "exp": now + ttl,
        "iss": "bytedash-dev",
        **(extra_claims or {}),
    }
    return jwt.encode(claims, secret, algorithm=HS_ALGORITHM)
