"""Makes `http_request` steps' outbound calls with httpx and shapes the answer as step output.

The response body becomes JSON when it parses as JSON, text otherwise, cut to MAX_BODY_CHARS so
that a chatty endpoint cannot bloat the event store or the workflow history. Of the response's
headers only KEPT_HEADERS reach the output: the rest (a `Set-Cookie`, a session or signed URL
an endpoint hands back) would be kept forever in events that every viewer of the org reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

MAX_BODY_CHARS = 64_000
# Redirects an outbound call follows (each hop checked like the first) before it gives up.
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Request headers that carry credentials: never sent on to another origin by a redirect.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# Response headers a step's output keeps (lower case): what later steps need to follow an
# answer (its type and size, where a created resource is, its version, when to come back, the
# endpoint's id for support), never credentials or cookies.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "location",
        "etag",
        "last-modified",
        "retry-after",
        "x-request-id",
    }
)


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
    private_headers: Iterable[str] = (),
) -> HttpAnswer:
    """One request, following up to MAX_REDIRECTS redirects one hop at a time, so that the
    client's transport checks every hop's destination (delivery/outbound.py); transport
    failures (refused, timed out, too many redirects) raise httpx.HTTPError.

    A 303 (and a 301 or 302 after anything but GET) is followed with a GET and no body, as
    browsers and httpx do; 307 and 308 repeat the request. When a hop leaves the first URL's
    origin (scheme, host, port), the credential headers (CREDENTIAL_HEADERS and
    `private_headers`, those that held a secret) are not sent on."""
    started = time.monotonic()
    verb = method.upper()
    current = httpx.URL(url)
    origin = _origin(current)
    private = {name.lower() for name in private_headers} | CREDENTIAL_HEADERS
    sent = dict(headers)
    payload = body if body is not None and verb != "GET" else None
    for _hop in range(MAX_REDIRECTS + 1):
        response = client.request(
            verb, current, headers=sent, json=payload, timeout=timeout_seconds
        )
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            break
        response.close()
        current = current.join(location)
        if response.status_code == 303 or (
            response.status_code in (301, 302) and verb not in ("GET", "HEAD")
        ):
            verb, payload = "GET", None
        if _origin(current) != origin:
            sent = {k: v for k, v in sent.items() if k.lower() not in private}
    else:
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects (the last to {current})")
    duration_ms = (time.monotonic() - started) * 1000
    return HttpAnswer(
        status=response.status_code,
        headers={
            name.lower(): value
            for name, value in response.headers.items()
            if name.lower() in KEPT_HEADERS
        },
        body=_body(response),
        duration_ms=duration_ms,
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


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
