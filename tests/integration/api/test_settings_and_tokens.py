"""Configuration and token rules that need no running stack."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from interfaces.api.auth import (
    LEEWAY_SECONDS,
    AuthenticationError,
    TokenVerifier,
    issue_dev_token,
    principal_from_claims,
)
from interfaces.settings import DEV_JWT_SECRET, Settings
from tests.integration.api.support import MASTER_KEY, WEBHOOK_KEY

STRONG = "a-production-secret-that-is-long-enough-0123456789"


def settings(**values: object) -> Settings:
    return Settings.model_validate(
        {"webhook_secret_key": WEBHOOK_KEY, "master_key": MASTER_KEY, **values}
    )


def test_development_falls_back_to_the_dev_secret_so_cli_tokens_work() -> None:
    dev = settings(env="development", auth_jwt_secret=None)
    verifier = TokenVerifier(secret=dev.jwt_secret())

    token = issue_dev_token(dev.jwt_secret() or "", org="org_1", role="viewer", user="ann", ttl=60)

    principal = verifier.verify(token)
    assert dev.jwt_secret() == DEV_JWT_SECRET
    assert (principal.user_id, principal.org_id, principal.role) == ("ann", "org_1", "viewer")
    assert principal.actor == "user:ann"
    assert dev.log_format == "console"


@pytest.mark.parametrize("secret", [None, DEV_JWT_SECRET, "secret", "short-but-not-known"])
def test_production_refuses_a_missing_or_development_secret(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="production"):
        settings(env="production", auth_jwt_secret=secret, auth_jwks_url=None)


def test_production_accepts_a_jwks_or_a_strong_secret() -> None:
    with_jwks = settings(env="production", auth_jwt_secret=None, auth_jwks_url="https://x/jwks")
    with_secret = settings(env="production", auth_jwt_secret=STRONG, auth_jwks_url=None)

    assert with_jwks.jwt_secret() is None
    assert with_secret.jwt_secret() == STRONG
    assert with_jwks.log_format == "json"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", "q1")
    monkeypatch.setenv("API_PORT", "9000")
    monkeypatch.setenv("BYTEDASH_ENV", "production")
    monkeypatch.setenv("AUTH_JWT_SECRET", STRONG)
    monkeypatch.setenv("WEBHOOK_SECRET_KEY", STRONG + "-webhook")
    monkeypatch.setenv("BYTEDASH_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("BYTEDASH_DATA_DIR", "/tmp/bd")
    monkeypatch.setenv("LOG_FORMAT", "console")

    loaded = Settings(_env_file=None)

    assert (loaded.database_url, loaded.temporal_task_queue, loaded.api_port) == (
        "postgresql://db/x",
        "q1",
        9000,
    )
    assert loaded.env == "production"
    assert str(loaded.data_dir) == "/tmp/bd"
    assert loaded.log_format == "console"
    assert loaded.temporal_namespace == "default"
    assert loaded.webhook_key() == STRONG + "-webhook"


def test_clerk_v2_org_claims_are_read() -> None:
    principal = principal_from_claims({"sub": "user_9", "o": {"id": "org_c", "rol": "admin"}})

    assert (principal.org_id, principal.role) == ("org_c", "admin")
    assert principal.can_manage


def test_a_token_signed_with_another_secret_is_refused() -> None:
    verifier = TokenVerifier(secret=STRONG)
    token = jwt.encode(
        {"sub": "u", "org_id": "o", "org_role": "member", "exp": int(time.time()) + 60},
        STRONG[::-1],
        algorithm="HS256",
    )

    with pytest.raises(AuthenticationError, match="signature"):
        verifier.verify(token)


def test_dev_tokens_refuse_unknown_roles() -> None:
    with pytest.raises(ValueError, match="role"):
        issue_dev_token(STRONG, org="o", role="root", user="u")


def test_production_refuses_a_missing_or_weak_webhook_key() -> None:
    for key in (None, "short", "bytedash-development-webhook-key-do-not-use-in-production"):
        with pytest.raises(ValidationError, match="WEBHOOK_SECRET_KEY"):
            settings(env="production", auth_jwt_secret=STRONG, webhook_secret_key=key)


def test_a_token_accepted_a_moment_ago_is_refused_once_it_expires() -> None:
    verifier = TokenVerifier(secret=STRONG)
    # Valid (leeway included) for about two more seconds.
    expires = int(time.time()) - LEEWAY_SECONDS + 2
    token = jwt.encode(
        {"sub": "alice", "org_id": "acme", "org_role": "admin", "exp": expires},
        STRONG,
        algorithm="HS256",
    )
    assert verifier.verify(token).user_id == "alice"
    assert verifier.verify(token).user_id == "alice"  # answered from the verified tokens

    time.sleep(max(0.0, expires + LEEWAY_SECONDS - time.time()) + 0.2)
    with pytest.raises(AuthenticationError, match="expired"):
        verifier.verify(token)


def test_operator_and_rate_limit_settings_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_OPERATOR_CLAIM", "realm_access.roles")
    monkeypatch.setenv("AUTH_OPERATOR_SUBJECTS", "ops-1, ops-2 ,")
    monkeypatch.setenv("RATE_LIMIT_API_PER_SECOND", "5")
    monkeypatch.setenv("RATE_LIMIT_WEBHOOK_PER_SECOND", "0")

    loaded = Settings(_env_file=None)

    assert loaded.auth_operator_claim == "realm_access.roles"
    assert loaded.operator_subjects() == frozenset({"ops-1", "ops-2"})
    assert (loaded.rate_limit_api_per_second, loaded.rate_limit_api_burst) == (5.0, None)
    monkeypatch.setenv("RATE_LIMIT_API_BURST", "-1")
    with pytest.raises(ValidationError, match="rate_limit_api_burst"):
        Settings(_env_file=None)


def test_a_jwks_switches_the_development_secret_off_in_development_too() -> None:
    with_jwks = settings(env="development", auth_jwt_secret=None, auth_jwks_url="https://x/jwks")
    both = settings(env="development", auth_jwt_secret=STRONG, auth_jwks_url="https://x/jwks")

    assert with_jwks.jwt_secret() is None
    assert both.jwt_secret() == STRONG  # configured on purpose: both verifiers, each its own alg
