"""Masks personal data and credentials in every log line (docs/operations.md, "Logs: no personal
data, no credentials"), as the last step before a line is rendered (interfaces/logging.py):
email addresses, phone numbers, bearer and basic credentials, JWTs, the values of fields named
like credentials, and every secret value this process has handled (worker/secret_values.py).

Patterns, not knowledge: a phone number is masked when it reads as one (`+` and 8 to 15
digits, `(555) 123-4567`, `555-123-4567`); a bare run of digits is left alone, since ids,
positions and durations look the same. What is masked is replaced by a label (`[email]`,
`[phone]`, `[token]`, `[secret]`, `[redacted]`), so a line still says what was there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from worker.secret_values import pattern as secret_pattern

_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 [token]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[token]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
    (
        re.compile(
            r"(?<![\w+])\+\d(?:[ \-.]?\(?\d\)?){7,14}(?!\w)"
            r"|(?<![\w-])\(\d{3}\)\s?\d{3}-\d{4}(?![\w-])"
            r"|(?<![\w-])\d{3}-\d{3}-\d{4}(?![\w-])"
        ),
        "[phone]",
    ),
)
# A dashed phone number's end, for the quick test below.
_DASHED = re.compile(r"\d{3}-\d{4}(?![\w-])")


def _may_hold(text: str) -> bool:
    """Whether any expression above may match: plain `in` tests, so that most fields (ids,
    names, routes) cost no regular expression at all."""
    return (
        "@" in text
        or "+" in text
        or "eyJ" in text
        or "earer " in text
        or "EARER " in text
        or "asic " in text
        or "ASIC " in text
        or ("-" in text and _DASHED.search(text) is not None)
    )


# Fields whose whole value is a credential, whatever it looks like.
_CREDENTIAL_KEY = re.compile(r"(?i)(authorization|password|passwd|secret|token|api[_-]?key|cookie)")
# Fields structlog and our own context set, never personal data: left as they are (cheaper).
_KEPT = frozenset({"timestamp", "level", "logger", "event_id"})


def mask_text(text: str) -> str:
    """`text` with personal data, credentials and known secret values masked. A text holding
    percent-escapes (a URL's query) is also looked at decoded, and shown decoded when that
    reveals something to mask (`who=ann%40example.com` becomes `who=[email]`)."""
    masked = _masked(text)
    if "%" in text:
        decoded = unquote(text)
        if decoded != text:
            masked_decoded = _masked(decoded)
            if masked_decoded != decoded:
                return masked_decoded
    return masked


def _masked(text: str) -> str:
    secrets = secret_pattern()
    if secrets is not None:
        text = secrets.sub("[secret]", text)
    if not _may_hold(text):
        return text
    for expression, label in _PATTERNS:
        text = expression.sub(label, text)
    return text


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {key: _masked_field(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_text(str(value))


def _masked_field(key: Any, value: Any) -> Any:
    if isinstance(key, str) and _is_credential_key(key) and value not in (None, ""):
        return "[redacted]"
    return _mask(value)


@lru_cache(maxsize=4096)
def _is_credential_key(key: str) -> bool:
    return _CREDENTIAL_KEY.search(key) is not None


def mask_sensitive(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    """structlog processor: every field but structlog's own, masked."""
    for key, value in list(event.items()):
        if key in _KEPT or key.startswith("_") or (value is None or isinstance(value, int | float)):
            continue
        if _is_credential_key(key) and value != "":
            event[key] = "[redacted]"
        elif isinstance(value, str):
            event[key] = mask_text(value)
        else:
            event[key] = _mask(value)
    return event
