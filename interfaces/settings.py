"""Configuration of every process, read from the environment (12-factor) and an optional `.env`.

One typed object instead of ``os.environ`` lookups scattered through the code, so that a bad
value is refused once, at start-up, with a message naming the variable. Built by the composition
roots (`bytedash` commands, tests), never at import time.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.contracts import DEFAULT_TASK_QUEUE
from worker.secret_transit import DEV_MASTER_KEY, MASTER_KEY_BYTES

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
# A label of a host name in OUTBOUND_ALLOW.
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
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
    # An OpenAI-compatible endpoint for `llm` steps (`<LLM_BASE_URL>/chat/completions`, e.g.
    # https://api.openai.com/v1) and its bearer key. Unset: definitions with an llm step are
    # refused (the API) and such steps fail (the worker).
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    # The master key of the secret store (docs/operations.md "Secrets"): base64 of 32 random
    # bytes. It wraps each org's data key and seals values on their way to the worker; unset,
    # development uses a public key (with a warning) and production refuses to start.
    master_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BYTEDASH_MASTER_KEY", "master_key")
    )
    # The master key being replaced while `bytedash keys rotate` runs (docs/operations.md "Rotating
    # the master key"): keys still wrapped by it keep opening until the rotation has re-wrapped
    # them. Unset outside a rotation.
    previous_master_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("BYTEDASH_MASTER_KEY_PREVIOUS", "previous_master_key"),
    )
    # Outbound calls (`http_request`, `llm`) may reach only public addresses, except these
    # comma-separated CIDRs (10.0.0.0/8, ::1/128) and host names (docs/operations.md).
    outbound_allow: str = ""
    # None: JSON in production, console in development (resolved below).
    log_format: LogFormat | None = None
    env: Environment = Field(
        default="development", validation_alias=AliasChoices("BYTEDASH_ENV", "env")
    )
    data_dir: Path = Field(
        default=Path(".bytedash"), validation_alias=AliasChoices("BYTEDASH_DATA_DIR", "data_dir")
    )

    @field_validator("llm_base_url")
    @classmethod
    def _llm_url(cls, value: str | None) -> str | None:
        url = (value or "").strip()
        if not url:
            return None
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("LLM_BASE_URL must start with http:// or https://")
        return url

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow(cls, value: str) -> str:
        """Each entry a CIDR, an address or a host name (`.example.internal` for every name
        under it); the worker parses them again (application/delivery/outbound.py)."""
        for raw in value.split(","):
            entry = raw.strip()
            if not entry:
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
                continue
            except ValueError:
                pass
            labels = entry.strip(".").split(".")
            if not all(_HOST_LABEL.fullmatch(label) for label in labels):
                raise ValueError(
                    f"OUTBOUND_ALLOW entry {entry!r} is neither a CIDR, an address nor a host name"
                )
        return value

    @field_validator("master_key", "previous_master_key")
    @classmethod
    def _master_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        name = (
            "BYTEDASH_MASTER_KEY_PREVIOUS"
            if info.field_name == "previous_master_key"
            else "BYTEDASH_MASTER_KEY"
        )
        try:
            raw = base64.b64decode(value.get_secret_value().strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{name} must be base64 (of 32 random bytes)") from None
        if len(raw) != MASTER_KEY_BYTES:
            raise ValueError(
                f"{name} must be base64 of {MASTER_KEY_BYTES} bytes, not {len(raw)} "
                "(make one with: openssl rand -base64 32)"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.log_format is None:
            self.log_format = "json" if self.env == "production" else "console"
        if self.env == "production":
            self._check_production_auth()
            self._check_production_master_key()
        return self

    def _check_production_master_key(self) -> None:
        if self.master_key is None:
            raise ValueError(
                "BYTEDASH_ENV=production needs BYTEDASH_MASTER_KEY (base64 of 32 random bytes: "
                "openssl rand -base64 32); it encrypts every org's secrets"
            )
        raw = self.master_key_bytes()
        if raw == DEV_MASTER_KEY or len(set(raw)) < MASTER_KEY_BYTES // 4:
            raise ValueError(
                "BYTEDASH_MASTER_KEY is the development key or not random enough (too few "
                "distinct bytes); it is refused when BYTEDASH_ENV=production"
            )

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

    def llm_key(self) -> str | None:
        """LLM_API_KEY as text, for the worker's llm steps."""
        return None if self.llm_api_key is None else self.llm_api_key.get_secret_value()

    def master_key_bytes(self) -> bytes:
        """The secret store's master key: BYTEDASH_MASTER_KEY, else (development only) the
        public development key."""
        if self.master_key is None:
            return DEV_MASTER_KEY
        return base64.b64decode(self.master_key.get_secret_value().strip())

    @property
    def uses_dev_master_key(self) -> bool:
        return self.master_key is None

    def previous_master_key_bytes(self) -> bytes | None:
        """BYTEDASH_MASTER_KEY_PREVIOUS, set only while a master key rotation is under way."""
        if self.previous_master_key is None:
            return None
        return base64.b64decode(self.previous_master_key.get_secret_value().strip())

    def operator_subjects(self) -> frozenset[str]:
        """AUTH_OPERATOR_SUBJECTS as a set of `sub` values."""
        return frozenset(s.strip() for s in self.auth_operator_subjects.split(",") if s.strip())
