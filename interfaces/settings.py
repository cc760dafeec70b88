"""Configuration of every process, read from the environment (12-factor) and an optional `.env`.

One typed object instead of ``os.environ`` lookups scattered through the code, so that a bad
value is refused once, at start-up, with a message naming the variable. Built by the composition
roots (`bytedash` commands, tests), never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.contracts import DEFAULT_TASK_QUEUE

LogFormat = Literal["json", "console"]
Environment = Literal["development", "production"]

# The HS256 secret used when development runs without AUTH_JWT_SECRET, so that `bytedash token`
# and `bytedash api` agree out of the box. Public by design: refused in production.
DEV_JWT_SECRET = "bytedash-development-secret-do-not-use-in-production"
# The key webhook secrets are derived from when development runs without WEBHOOK_SECRET_KEY.
DEV_WEBHOOK_KEY = "bytedash-development-webhook-key-do-not-use-in-production"
# Secrets that anyone could guess; production refuses them as it refuses DEV_JWT_SECRET.
KNOWN_DEV_SECRETS = frozenset(
    {DEV_JWT_SECRET, DEV_WEBHOOK_KEY, "secret", "changeme", "change-me", "dev", "test"}
)
# Platform operators by default: a `roles` claim holding `bytedash:operator`.
DEFAULT_OPERATOR_CLAIM = "roles"
DEFAULT_OPERATOR_VALUE = "bytedash:operator"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    """Every setting of docs/contract.md's "Processes and configuration", typed and validated."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # None: `bytedash up` starts an embedded server and fills these in.
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = DEFAULT_TASK_QUEUE

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    # HS256 (development, `bytedash token`) ...
    auth_jwt_secret: SecretStr | None = None
    # ... and RS256 through a JWKS (production, Clerk-compatible).
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    # Platform operators (the tools that span every org): a token whose claim at this dotted
    # path holds AUTH_OPERATOR_VALUE (empty: no claim makes an operator), or whose `sub` is one
    # of AUTH_OPERATOR_SUBJECTS (comma-separated).
    auth_operator_claim: str = Field(
        default=DEFAULT_OPERATOR_CLAIM, pattern=r"^[^.\s]*(\.[^.\s]+)*$"
    )
    auth_operator_value: str = Field(default=DEFAULT_OPERATOR_VALUE, min_length=1)
    auth_operator_subjects: str = ""

    # Rate limits, shared by every API process through Postgres (interfaces/api/ratelimit.py):
    # requests per second each org may make on the API, and each definition's webhook may
    # receive; bursts up to the *_BURST size (default: twice the rate). 0 turns a limit off.
    rate_limit_api_per_second: float = Field(default=1000.0, ge=0)
    rate_limit_api_burst: int | None = Field(default=None, ge=1)
    rate_limit_webhook_per_second: float = Field(default=50.0, ge=0)
    rate_limit_webhook_burst: int | None = Field(default=None, ge=1)

    # Webhook secrets are HMAC(WEBHOOK_SECRET_KEY, definition id and generation): never stored.
    webhook_secret_key: SecretStr | None = None
    smtp_url: str | None = None
    # None: JSON in production, console in development (resolved below).
    log_format: LogFormat | None = None
    env: Environment = Field(
        default="development", validation_alias=AliasChoices("BYTEDASH_ENV", "env")
    )
    data_dir: Path = Field(
        default=Path(".bytedash"), validation_alias=AliasChoices("BYTEDASH_DATA_DIR", "data_dir")
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.log_format is None:
            self.log_format = "json" if self.env == "production" else "console"
        if self.env == "production":
            self._check_production_auth()
        return self

    def _check_production_auth(self) -> None:
        secret = self.auth_jwt_secret.get_secret_value() if self.auth_jwt_secret else None
        if secret is not None and (
            secret in KNOWN_DEV_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES
        ):
            raise ValueError(
                "AUTH_JWT_SECRET is a development or too short secret "
                f"(at least {MIN_SECRET_BYTES} bytes are needed); "
                "it is refused when BYTEDASH_ENV=production"
            )
        key = self.webhook_secret_key.get_secret_value() if self.webhook_secret_key else None
        if key is None or key in KNOWN_DEV_SECRETS or len(key.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"BYTEDASH_ENV=production needs WEBHOOK_SECRET_KEY of at least {MIN_SECRET_BYTES} "
                "bytes: every webhook secret is derived from it"
            )
        if secret is None and not self.auth_jwks_url:
            raise ValueError(
                "BYTEDASH_ENV=production needs AUTH_JWKS_URL (RS256) or a strong AUTH_JWT_SECRET; "
                "the development secret is refused in production"
            )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def webhook_key(self) -> str:
        """The key webhook secrets derive from (the development key outside production)."""
        if self.webhook_secret_key is not None:
            return self.webhook_secret_key.get_secret_value()
        return DEV_WEBHOOK_KEY

    def jwt_secret(self) -> str | None:
        """The HS256 secret tokens are signed with: the configured one, else the development
        secret in development without a JWKS, else None.

        Configuring AUTH_JWKS_URL switches the development secret off whatever BYTEDASH_ENV
        says: the secret is public, so a server that expects RS256 tokens from an identity
        provider would otherwise take anyone's HS256 token as any role of any org."""
        if self.auth_jwt_secret is not None:
            return self.auth_jwt_secret.get_secret_value()
        if self.is_production or self.auth_jwks_url:
            return None
        return DEV_JWT_SECRET

    def operator_subjects(self) -> frozenset[str]:
        """AUTH_OPERATOR_SUBJECTS as a set of `sub` values."""
        return frozenset(s.strip() for s in self.auth_operator_subjects.split(",") if s.strip())
