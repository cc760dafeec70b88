"""Webhook secrets and signatures (docs/contract.md, "Webhooks").

A definition's secret is derived, never stored: ``HMAC-SHA256(WEBHOOK_SECRET_KEY,
"<definition id>:<generation>")``. Rotating it records only a new generation number (an event),
so the secret appears in no event, table, log or backup, and the API can check a signature from
the read model alone. Requests carry ``X-Byte-Signature: t=<unix seconds>,v1=<hex>`` where the hex
is ``HMAC-SHA256(secret, "<t>.<raw body>")``, the scheme Stripe popularised: the timestamp inside
the signed text stops replays of old requests.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SECRET_PREFIX = "whsec_"
# Trigger types whose definitions receive webhooks and so have a secret.
WEBHOOK_TRIGGERS = frozenset({"form_submission", "webhook"})
TOLERANCE_SECONDS = 300
# ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses), and at most 12 of
# them: enough until the year 33658, and never a 5,000-digit number for ``int`` to parse.
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """The request is not signed by the definition's current secret (answered 401)."""


def derive_secret(key: str, definition_id: str, generation: int) -> str:
    digest = hmac.new(
        key.encode(), f"{definition_id}:{generation}".encode(), hashlib.sha256
    ).hexdigest()
    return SECRET_PREFIX + digest


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender computes (also used by tests and the docs' example)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str | None, body: bytes, now: float) -> None:
    if not header:
        raise SignatureError("the X-Byte-Signature header is missing")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    signatures = parts.get("v1", [])
    if len(stamps) != 1 or not _UNIX_SECONDS.fullmatch(stamps[0]) or not signatures:
        raise SignatureError("X-Byte-Signature must read t=<unix seconds>,v1=<hex HMAC-SHA256>")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError(
            f"the signature's timestamp is more than {TOLERANCE_SECONDS} s away from now"
        )
    expected = sign(secret, timestamp, body).partition("v1=")[2]
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("the signature does not match the body and the definition's secret")
