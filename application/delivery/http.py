"""Makes `http_request` steps' outbound calls with httpx and shapes the answer as step output.

The response body becomes JSON when it parses as JSON, text otherwise, cut to MAX_BODY_CHARS so
that a chatty endpoint cannot bloat the event store or the workflow history.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

MAX_BODY_CHARS = 64_000


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: Any
    duration_ms: float

    def as_output(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "headers": self.headers}


def call(
    client: httpx.Client,
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
    timeout_seconds: float,
) -> HttpAnswer:
    """One request; transport failures (refused, timed out) raise httpx.HTTPError."""
    started = time.monotonic()
    response = client.request(
        method.upper(),
        url,
        headers=headers,
        json=body if body is not None and method.upper() != "GET" else None,
        timeout=timeout_seconds,
    )
    duration_ms = (time.monotonic() - started) * 1000
    return HttpAnswer(
        status=response.status_code,
        headers={name.lower(): value for name, value in response.headers.items()},
        body=_body(response),
        duration_ms=duration_ms,
    )


def _body(response: httpx.Response) -> Any:
    text = response.text
    if len(text) > MAX_BODY_CHARS:
        return text[:MAX_BODY_CHARS]
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
